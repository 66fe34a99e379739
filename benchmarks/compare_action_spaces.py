"""Latent vs token action spaces: PPO (and GRPO) on both twins of both tasks, 3 seeds, a fixed budget, fair start.

    python benchmarks/compare_action_spaces.py            # full: PPO + GRPO, 50k steps per run
    python benchmarks/compare_action_spaces.py --quick    # a few minutes on 2 CPU cores (what `lam demo` runs)

Writes results.md (table with mean ± std, the exact command, the commit), results.json and curves.png into --out.
The logic lives in :mod:`lam_agents.compare`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from lam_agents.compare import CompareConfig, run_comparison


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="PPO only, 4096 steps, 16 test prompts")
    p.add_argument("--algos", nargs="+", default=None, help="e.g. ppo grpo")
    p.add_argument("--tasks", nargs="+", default=None, help="mmrole pcogalign")
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="environment steps per run")
    p.add_argument("--n-eval", type=int, default=None, help="test prompts per split")
    p.add_argument("--kl-beta", type=float, default=None, help="KL toward the fair start (PPO)")
    p.add_argument("--env-kwargs", default="{}", help="env keywords as JSON (e.g. a backbone directory)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = {k: v for k, v in {"algos": args.algos and tuple(args.algos), "tasks": args.tasks and tuple(args.tasks),
                                   "seeds": args.seeds and tuple(args.seeds), "steps": args.steps,
                                   "n_eval": args.n_eval, "kl_beta": args.kl_beta, "out": args.out,
                                   "env_kwargs": json.loads(args.env_kwargs)}.items() if v is not None}
    config = CompareConfig.quick(**overrides) if args.quick else CompareConfig(**overrides)
    _, table = run_comparison(config, command="python " + " ".join(sys.argv))
    print(table)
    print(f"\nwritten to {config.out}/results.md and curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
