"""A random agent on a latent env: one judged reply per episode, with the judge's per-dimension ratios.

    python examples/random_agent.py --env lam/MMRole-Latent-v0 --episodes 3
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym

import lam_envs  # noqa: F401  (registers the lam/ ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="lam/MMRole-Latent-v0")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-kwargs", default="{}", help="env keywords as JSON")
    args = parser.parse_args()
    env = gym.make(args.env, **json.loads(args.env_kwargs))
    env.action_space.seed(args.seed)
    obs, info = env.reset(seed=args.seed)
    for episode in range(args.episodes):
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            done = terminated or truncated
        print(f"episode {episode} sample {info['sample_id']}: reward {reward:.3f}, {info['reply_tokens']} tokens")
        print(f"  reply: {info['reply']!r}")
        print("  " + ", ".join(f"{d} {r:.2f}" for d, r in info["dimension_ratios"].items()))
        obs, info = env.reset()
    env.close()


if __name__ == "__main__":
    main()
