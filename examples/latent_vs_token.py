"""Latent vs token: PPO on both twins of one task from the fair start, same budget, scored before and after.

    python examples/latent_vs_token.py --task mmrole --steps 10240 --seeds 0 1 2

Prints start -> end (IQM over seeds with 95% CIs) and saves learning curves with CI bands.
"""

from __future__ import annotations

import argparse
import json

from lam_agents.learning import LearningConfig, format_rows, run_study
from lam_envs.tasks import task_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="mmrole", choices=task_names())
    parser.add_argument("--steps", type=int, default=10_240)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--n-eval", type=int, default=16)
    parser.add_argument("--out", default="runs/example_latent_vs_token")
    parser.add_argument("--env-kwargs", default="{}", help="env keywords as JSON")
    args = parser.parse_args()
    config = LearningConfig(tasks=(args.task,), algos=("ppo",), seeds=tuple(args.seeds), steps=args.steps,
                            n_eval=args.n_eval, splits=("test_id",), out=args.out,
                            env_kwargs=json.loads(args.env_kwargs))
    rows = run_study(config)
    print(format_rows(rows))
    print(f"learning curves: {args.out}/curves.png")


if __name__ == "__main__":
    main()
