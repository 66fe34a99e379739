"""GRPO (a new algorithm in SB3's API, lam_agents.grpo.GRPO) on a latent or token env, with Dr.GRPO / DAPO options.

    python examples/grpo.py --env lam/PCogAlign-Latent-v0 --loss-type dr_grpo --steps 8192
"""

from __future__ import annotations

import argparse
import json

from lam_agents.envs import env_parts, make_vec_env
from lam_agents.fair_start import FairStartPolicy, load_start_weights, start_head_spec
from lam_agents.grpo import GRPO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="lam/MMRole-Latent-v0")
    parser.add_argument("--loss-type", default="grpo", choices=("grpo", "dr_grpo", "dapo"))
    parser.add_argument("--steps", type=int, default=8192)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-kwargs", default="{}", help="env keywords as JSON")
    parser.add_argument("--out", default="runs/example_grpo.zip", help="where the trained model is saved")
    args = parser.parse_args()
    venv = make_vec_env(args.env, 2 * args.group_size, args.seed, json.loads(args.env_kwargs))
    # The fair start: the policy begins at the prior (latent) or the LM head (token); GRPO's k3 KL pulls toward it.
    parts = env_parts(venv)
    model = GRPO(FairStartPolicy, venv, group_size=args.group_size, groups_per_update=4, kl_beta=0.01,
                 loss_type=args.loss_type, seed=args.seed, verbose=1,
                 policy_kwargs={"start_head": start_head_spec(parts), "net_arch": [64, 64]})
    load_start_weights(model.policy, parts)
    model.learn(args.steps, progress_bar=True)
    model.save(args.out)


if __name__ == "__main__":
    main()
