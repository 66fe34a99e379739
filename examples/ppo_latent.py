"""PPO on a latent env from the fair start (the policy prior), then the paper-style evaluation.

    python examples/ppo_latent.py --steps 8192
"""

from __future__ import annotations

import argparse
import json

from lam_agents.evaluate import evaluate_run, format_scores
from lam_agents.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="lam/MMRole-Latent-v0")
    parser.add_argument("--steps", type=int, default=8192)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-eval", type=int, default=16, help="test prompts per split")
    parser.add_argument("--out", default="runs/example_ppo_latent")
    parser.add_argument("--env-kwargs", default="{}", help="env keywords as JSON")
    args = parser.parse_args()
    config = TrainConfig(env_id=args.env, algo="ppo", steps=args.steps, seed=args.seed, fair_start=True,
                         kl_beta=0.01, out=args.out, env_kwargs=json.loads(args.env_kwargs), overwrite=True)
    run_dir = train(config)
    print(format_scores(evaluate_run(str(run_dir), n=args.n_eval, samples_per_prompt=3, seed=args.seed)))


if __name__ == "__main__":
    main()
