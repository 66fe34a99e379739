"""Env steps/s of the conversation envs, single and batched, latent and token, next to the raw batched decode.

Usage (the exact command behind the table in the report):

    .venv/bin/python benchmarks/env_throughput.py --seed 0 --threads 2
    .venv/bin/python benchmarks/env_throughput.py --backbone-dir /path/to/Qwen2.5-VL-3B-Instruct \
        --latent-dir /path/to/latent --device cuda --dtype bfloat16

Backbone: ``--backbone-dir``, else the embedded default if it is installed, else a random tiny Qwen2.5-VL of the
embedded default's sizes built on the fly. Latent model: ``--latent-dir``, else a random K=128 one for that backbone
(its speed is that of a trained one: same shapes). Everything is measured in one run, on the same synthetic
MMRole RL samples, with replies of ``--reply-tokens`` tokens and uniformly random actions (token envs thus rarely
hit EOS: every episode runs to the length limit, the worst case for autoreset cost):

* ``raw decode``: ``Backbone.step`` plus the LM head's argmax for B rows, prompts prefilled once (the floor).
* ``raw episode``: the same plus one batched prefill of B new prompts every ``--reply-tokens`` steps.
* ``vector N``: ``gym.make_vec(id, num_envs=N)`` stepped with random actions, autoresets and judging included.
* ``single x N``: N separate ``gym.make(id)`` envs stepped one after the other in a Python loop.

Rates are env steps (tokens) per second, medians over ``--repeats`` timed blocks of ``--steps`` steps.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

import lam_envs  # noqa: F401  (registers the ids)
from lam_envs.backbone import Backbone, BackboneConfig
from lam_envs.envs.config import ConversationConfig
from lam_envs.envs.resources import contexts_for, resolve_samples

ENV_IDS = {"latent": "lam/MMRole-Latent-v0", "token": "lam/MMRole-Token-v0"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone-dir", type=Path, default=None, help="checkpoint dir (default: see module doc)")
    parser.add_argument("--latent-dir", type=Path, default=None, help="latent model dir (default: random K=128)")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--single-envs", type=int, default=64, help="N of the single-env loop")
    parser.add_argument("--steps", type=int, default=64, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks per setting")
    parser.add_argument("--reply-tokens", type=int, default=32, help="max_reply_tokens of every env")
    parser.add_argument("--num-samples", type=int, default=256, help="synthetic RL samples episodes draw from")
    parser.add_argument("--prompt-style", choices=["compact", "full"], default="compact",
                        help="compact: as the envs show samples to the embedded default (and the stand-in for it)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the tiny model, the envs and the actions")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(block: Callable[[], int], device: torch.device, repeats: int) -> float:
    """Median steps/s over ``repeats`` calls of ``block`` (which returns the env steps it took), after one warm-up."""
    block()
    rates = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        steps = block()
        sync(device)
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


def raw_decode(backbone: Backbone, contexts: list, steps: int, reply_tokens: int, prefill: bool) -> Callable[[], int]:
    """A block of ``steps`` raw batched decode steps (with a prefill every ``reply_tokens`` steps if ``prefill``)."""
    holder = {"state": backbone.prefill(contexts), "t": 0}

    def block() -> int:
        for _ in range(steps):
            if holder["t"] >= reply_tokens:
                holder["t"] = 0
                if prefill:
                    holder["state"] = backbone.prefill(contexts)
            state = holder["state"]
            if state.length + 1 > backbone.config.max_context_tokens:  # keep the no-prefill floor in range
                holder["state"] = state = backbone.prefill(contexts)
            backbone.step(state, backbone.lm_head(state.h).argmax(-1))
            holder["t"] += 1
        return steps * len(contexts)

    return block


def vector_block(env_id: str, n: int, kwargs: dict[str, Any], steps: int, seed: int) -> Callable[[], int]:
    envs = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    envs.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = rng.integers(envs.single_action_space.n, size=(steps, n))

    def block() -> int:
        for a in actions:
            envs.step(a)
        return steps * n

    return block


def single_block(env_id: str, n: int, kwargs: dict[str, Any], steps: int, seed: int) -> Callable[[], int]:
    envs = [gym.make(env_id, **kwargs) for _ in range(n)]
    for i, env in enumerate(envs):
        env.reset(seed=seed + i)
    rng = np.random.default_rng(seed)
    actions = rng.integers(envs[0].action_space.n, size=(steps, n))

    def block() -> int:
        for a in actions:
            for env, action in zip(envs, a):
                _, _, terminated, truncated, _ = env.step(int(action))
                if terminated or truncated:
                    env.reset()
        return steps * n

    return block


def run(args: argparse.Namespace, backbone_dir: Path, latent_dir: Path) -> dict[str, Any]:
    kwargs = {
        "backbone": str(backbone_dir),
        "latent_model": str(latent_dir),
        "device": args.device,
        "dtype": args.dtype,
        "num_samples": args.num_samples,
        "max_reply_tokens": args.reply_tokens,
    }
    config = ConversationConfig(**kwargs)
    backbone = Backbone(BackboneConfig(backbone_dir.resolve(), device=args.device, dtype=args.dtype))
    samples = resolve_samples("mmrole", config)
    style = args.prompt_style
    kwargs["prompt_style"] = style
    device = backbone.device
    rows: list[dict[str, Any]] = []
    for n in args.num_envs:
        contexts = contexts_for(samples[:n], style)
        row: dict[str, Any] = {"num_envs": n}
        row["raw_decode"] = rate(raw_decode(backbone, contexts, args.steps, args.reply_tokens, False), device, args.repeats)
        row["raw_episode"] = rate(raw_decode(backbone, contexts, args.steps, args.reply_tokens, True), device, args.repeats)
        for kind, env_id in ENV_IDS.items():
            row[f"vector_{kind}"] = rate(vector_block(env_id, n, kwargs, args.steps, args.seed), device, args.repeats)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    single = {}
    for kind, env_id in ENV_IDS.items():
        steps = max(1, args.steps // 4)  # N envs stepped one by one: fewer rounds keep the run short
        single[kind] = rate(single_block(env_id, args.single_envs, kwargs, steps, args.seed), device, args.repeats)
    return {"rows": rows, "single": single, "prompt_style": style}


def git_commit() -> str:
    try:
        command = ["git", "rev-parse", "--short", "HEAD"]
        done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
        return done.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(args: argparse.Namespace, argv: Sequence[str], result: dict[str, Any], backbone_name: str) -> None:
    """Print the command, the setting and the table of rates and ratios (targets in the last lines)."""
    print(f"argv: {' '.join(['env_throughput.py', *argv])}")
    print(
        f"seed {args.seed} | commit {git_commit()} | torch {torch.__version__} | {args.device} {args.dtype} | "
        f"threads {torch.get_num_threads()} | {platform.processor() or platform.machine()} | backbone {backbone_name} "
        f"| reply tokens {args.reply_tokens} | prompts {result['prompt_style']}"
    )
    print("| N | raw decode | raw episode | vector token | vector latent | token/raw decode | token/raw episode "
          "| latent step / token step |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in result["rows"]:
        print(
            f"| {r['num_envs']} | {r['raw_decode']:.0f} | {r['raw_episode']:.0f} | {r['vector_token']:.0f} | "
            f"{r['vector_latent']:.0f} | {r['vector_token'] / r['raw_decode']:.2f} | "
            f"{r['vector_token'] / r['raw_episode']:.2f} | {r['vector_token'] / r['vector_latent']:.2f} |"
        )
    single = result["single"]
    widest = max(result["rows"], key=lambda r: r["num_envs"])
    n = args.single_envs
    print(f"single envs x {n} in a loop: token {single['token']:.0f} steps/s, latent {single['latent']:.0f} steps/s")
    print(
        f"vector {widest['num_envs']} / single x {n}: token {widest['vector_token'] / single['token']:.1f}x, latent "
        f"{widest['vector_latent'] / single['latent']:.1f}x (target >= 8x)"
    )
    print(
        f"vector {widest['num_envs']} token / raw decode: {widest['vector_token'] / widest['raw_decode']:.2f} "
        f"(target >= 0.8); / raw episode: {widest['vector_token'] / widest['raw_episode']:.2f}; latent step / token "
        f"step: {widest['vector_token'] / widest['vector_latent']:.2f} (target <= 1.10)"
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from lam_envs.backbone.default import default_backbone_dir
    from lam_envs.backbone.tiny import build_tiny_qwen2_5_vl
    from lam_envs.latent.model import random_latent_model

    with tempfile.TemporaryDirectory() as tmp:
        backbone_dir = args.backbone_dir
        name = str(backbone_dir)
        if backbone_dir is None and (default_backbone_dir() / "config.json").is_file():
            backbone_dir, name = default_backbone_dir(), "embedded default"
        elif backbone_dir is None:
            backbone_dir = build_tiny_qwen2_5_vl(Path(tmp) / "tiny_qwen", seed=args.seed)
            name = "random tiny Qwen2.5-VL (embedded default sizes)"
        latent_dir = args.latent_dir
        if latent_dir is None:
            backbone = Backbone(BackboneConfig(Path(backbone_dir).resolve(), device=args.device, dtype=args.dtype))
            latent_dir = random_latent_model(backbone, num_codes=128, seed=args.seed).save_pretrained(Path(tmp) / "lat")
        result = run(args, Path(backbone_dir), Path(latent_dir))
    report(args, argv, result, name)
    if args.json is not None:
        args.json.write_text(json.dumps({"argv": argv, "seed": args.seed, **result}, indent=2))
    return result


if __name__ == "__main__":
    main()
