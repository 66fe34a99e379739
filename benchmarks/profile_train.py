"""Where PPO ``learn()``'s time goes beyond the env's own: a cProfile of the run ``env_throughput.py`` times.

    python benchmarks/profile_train.py --threads 2

It builds the benchmark's training run (``train_throughput.train_model``: fair-start PPO, the YAML ``default`` entry,
16 latent envs of ``lam/MMRole-Latent-v0`` on the shipped default backbone and a random K = 128 latent model, caches
emptied first), runs one untimed rollout and update, then profiles ``--train-rollouts`` more. The table splits the
profiled time into:

* ``env step``: the SB3 adapter's ``step_wait`` (the vector env's step: decode, read-out, autoresets, judge);
* ``rollout policy``: the policy's forward pass on each step's observations (actor MLP, start head, value head,
  sampling), and ``to tensor``: SB3's ``obs_as_tensor`` of each step's observations;
* ``buffer add``: the rollout buffer's ``add``;
* ``callbacks``: every callback's ``on_step``;
* ``update``: ``PPO.train`` (the epochs of minibatch gradient steps), with the start head's share inside it;
* ``other``: the rest of ``learn()`` (SB3's loop, GAE, logging).

cProfile adds a per-call overhead, so the total is above the benchmark's; the shares are what this is for. Speed
itself is measured by ``benchmarks/env_throughput.py`` (``train_over_env_16``).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import env_throughput  # noqa: E402  (the benchmark's own run, from beside this script)
import train_throughput  # noqa: E402
from profile_step import function_stats  # noqa: E402

PARTS = {
    "env step": ("vec_env.py", "step_wait"),
    "rollout policy": ("policies.py", "forward"),
    "to tensor": ("utils.py", "obs_as_tensor"),
    "buffer add": ("buffers.py", "add"),
    "callbacks": ("callbacks.py", "on_step"),
    "update": ("ppo.py", "train"),
}
"""Row label -> (file name, function name) whose cumulative time the row shows."""
START_HEAD = ("fair_start.py", "start_logits")
LEARN = ("on_policy_algorithm.py", "learn")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-rollouts", type=int, default=2, help="profiled PPO rollouts (+ 1 untimed)")
    parser.add_argument("--train-n-steps", type=int, default=None, help="PPO n_steps (default: the YAML's)")
    parser.add_argument("--reply-tokens", type=int, default=32)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # What env_throughput's models/env_kwargs/train_model read, at the benchmark's values.
    args.backbone_dir = args.latent_dir = None
    args.device, args.dtype = "cpu", "float32"
    return args


def profile(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Profile the run's learn() after one untimed rollout; seconds per part, calls, and learn()'s total."""
    backbone_dir, latent_dir, _ = env_throughput.models(args, tmp)
    kwargs = env_throughput.env_kwargs(args, backbone_dir, latent_dir)
    backbone, _ = env_throughput.resolve_backbone(env_throughput.ConversationConfig(**kwargs))
    train_throughput.clear_caches(backbone)
    model, venv, rollout, params = train_throughput.train_model(args, kwargs, tmp / "ppo",
                                                                env_throughput.ENV_IDS["latent"])
    try:
        model.learn(rollout)
        profiler = cProfile.Profile()
        profiler.enable()
        model.learn(rollout * args.train_rollouts, reset_num_timesteps=False)
        profiler.disable()
    finally:
        venv.close()
    stats = pstats.Stats(profiler)
    parts = {label: function_stats(stats, where) for label, where in PARTS.items()}
    return {"learn": function_stats(stats, LEARN)[1], "parts": parts, "start_head": function_stats(stats, START_HEAD),
            "steps": rollout * args.train_rollouts, "params": params}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        result = profile(args, Path(tmp))
    params, total = result["params"], result["learn"]
    print(f"command: python benchmarks/profile_train.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"PPO fair start, {train_throughput.TRAIN_NUM_ENVS} envs, n_steps {params['n_steps']}, batch "
          f"{params['batch_size']}, {params['n_epochs']} epochs, {result['steps']} profiled steps, threads "
          f"{torch.get_num_threads()}; seconds (cumulative, cProfile) and share of learn()")
    print("| part | calls | seconds | share |")
    print("|---|---:|---:|---:|")
    counted = 0.0
    for label, (calls, seconds) in result["parts"].items():
        counted += seconds
        print(f"| {label} | {calls} | {seconds:.2f} | {seconds / total:.0%} |")
    print(f"| other | | {total - counted:.2f} | {(total - counted) / total:.0%} |")
    print(f"| learn() | | {total:.2f} | 100% |")
    calls, seconds = result["start_head"]
    print(f"start head (inside rollout policy and update): {calls} calls, {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
