"""Latent vs token: PPO on both twins of one task from the fair start, same budget; saves a learning-curve PNG.

    python examples/latent_vs_token.py --task mmrole --steps 4096 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json

from lam_agents.compare import CompareConfig, run_comparison


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="mmrole", choices=("mmrole", "pcogalign"))
    parser.add_argument("--steps", type=int, default=4096)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--n-eval", type=int, default=16)
    parser.add_argument("--out", default="runs/example_latent_vs_token")
    parser.add_argument("--env-kwargs", default="{}", help="env keywords as JSON")
    args = parser.parse_args()
    config = CompareConfig(tasks=(args.task,), algos=("ppo",), seeds=tuple(args.seeds), steps=args.steps,
                           n_eval=args.n_eval, out=args.out, env_kwargs=json.loads(args.env_kwargs))
    _, table = run_comparison(config)
    print(table)
    print(f"learning curves: {args.out}/curves.png")


if __name__ == "__main__":
    main()
