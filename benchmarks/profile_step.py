"""Where a vector env step's time goes, latent vs token: a cProfile of the same random-action run of both twins.

    python benchmarks/profile_step.py --num-envs 64 --threads 2

Both twins run ``--steps`` timed steps (after ``--warmup`` untimed ones) of ``lam/MMRole-{Latent,Token}-v0`` with the
shipped default backbone and latent model, uniformly random actions, ``--reply-tokens`` tokens a reply and the
backbone's caches emptied first. The table splits each twin's time into the parts issue 12 asks about:

* ``backbone step``: :meth:`Backbone.step` (one decode step of every row);
* ``read-out``: ``ReplyBatch.tokens_for`` (latent: the world model's merge, final norm, LM head and argmax; token:
  nothing but the action itself);
* ``autoreset``: ``ReplyBatch.begin`` (new prompts for finished rows), with how many calls and how many trunk
  prefills (``Backbone._prefill_batch``, the prompts not found in the cache) it made;
* ``judge``: ``ReplyBatch._judge`` (the rule judge on finished replies);
* ``infos`` and ``row infos``: Gymnasium's batched ``infos`` (``ConversationVectorEnv.batch_infos``) and the per-row
  dicts under them (``step_info``: the token, the reply so far as text, the verdict).

cProfile adds a per-call overhead, so the total is above the benchmark's; the shares are what this is for. Speed
itself is measured by ``benchmarks/env_throughput.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch

import lam_envs  # noqa: F401  (registers the ids)
from lam_envs.envs.config import ConversationConfig
from lam_envs.envs.resolve import resolve_backbone

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/timing.py, also when loaded by path
from timing import clear_caches  # noqa: E402

PARTS = {
    "backbone step": ("adapter.py", "step"),
    "read-out": ("dynamics.py", "tokens_for"),
    "autoreset": ("dynamics.py", "begin"),
    "judge": ("dynamics.py", "_judge"),
    "infos": ("vector.py", "batch_infos"),
    "row infos": ("spaces.py", "step_info"),
}
"""Row label -> (file name, function name) whose cumulative time the row shows."""
PREFILL = ("adapter.py", "_prefill_batch")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--steps", type=int, default=128, help="profiled steps")
    parser.add_argument("--warmup", type=int, default=64, help="untimed steps first")
    parser.add_argument("--reply-tokens", type=int, default=32)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def function_stats(stats: pstats.Stats, where: tuple[str, str]) -> tuple[int, float]:
    """(calls, cumulative seconds) of the function ``where`` names, summed over its entries."""
    calls, seconds = 0, 0.0
    for (filename, _, name), (_, ncalls, _, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        if filename.endswith(where[0]) and name == where[1]:
            calls, seconds = calls + ncalls, seconds + cumtime
    return calls, seconds


def profile(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    kwargs = {"num_samples": args.num_samples, "max_reply_tokens": args.reply_tokens, "prompt_style": "compact"}
    envs = gym.make_vec(f"lam/MMRole-{kind}-v0", num_envs=args.num_envs, vectorization_mode="vector_entry_point",
                        **kwargs)
    backbone, _ = resolve_backbone(ConversationConfig(**{k: v for k, v in kwargs.items() if k != "prompt_style"}))
    clear_caches(backbone)
    envs.reset(seed=args.seed)
    rng = np.random.default_rng(args.seed)
    actions = rng.integers(envs.single_action_space.n, size=(args.warmup + args.steps, args.num_envs))
    episodes = 0
    for a in actions[: args.warmup]:
        envs.step(a)
    profiler = cProfile.Profile()
    profiler.enable()
    for a in actions[args.warmup :]:
        _, _, terminated, truncated, _ = envs.step(a)
        episodes += int((terminated | truncated).sum())
    profiler.disable()
    envs.close()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    parts = {label: function_stats(stats, where) for label, where in PARTS.items()}
    return {"total": total, "parts": parts, "prefills": function_stats(stats, PREFILL)[0], "episodes": episodes}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    results = {kind: profile(kind, args) for kind in ("Latent", "Token")}
    print(f"command: python benchmarks/profile_step.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"{args.num_envs} envs, {args.steps} profiled steps, {args.reply_tokens}-token replies, threads "
          f"{torch.get_num_threads()}; seconds (cumulative, cProfile) and share of the twin's total")
    print("| part | latent s | latent share | token s | token share | latent − token s |")
    print("|---|---:|---:|---:|---:|---:|")
    lat, tok = results["Latent"], results["Token"]
    for label in PARTS:
        (lc, ls), (tc, ts) = lat["parts"][label], tok["parts"][label]
        print(f"| {label} ({lc} / {tc} calls) | {ls:.2f} | {ls / lat['total']:.0%} | {ts:.2f} | "
              f"{ts / tok['total']:.0%} | {ls - ts:+.2f} |")
    print(f"| total | {lat['total']:.2f} | | {tok['total']:.2f} | | {lat['total'] - tok['total']:+.2f} |")
    print(f"episodes ended: latent {lat['episodes']}, token {tok['episodes']}; trunk prefills: latent "
          f"{lat['prefills']}, token {tok['prefills']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
