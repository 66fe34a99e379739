"""A whole conversation per episode: the prior policy of the latent model answers each user turn in order, and each
reply is judged when it ends; the agent's own replies stay in the context of the next turns.

    python examples/dialogue.py --env lam/PCogAlign-Dialogue-Latent-v0 --episodes 2
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import numpy as np
import torch

import lam_envs  # noqa: F401  (registers the lam/ ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="lam/MMRole-Dialogue-Latent-v0", help="a -Dialogue-Latent- id")
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-kwargs", default="{}", help="env keywords as JSON")
    args = parser.parse_args()
    env = gym.make(args.env, **json.loads(args.env_kwargs))
    prior = env.unwrapped.parts.world_model.prior_logits  # the latent model's policy prior over codes
    obs, info = env.reset(seed=args.seed)
    for episode in range(args.episodes):
        print(f"episode {episode}: sample {info['sample_id']}, {info['turns']} user turns")
        total, done, asked = 0.0, False, env.unwrapped.turn_sample.query
        while not done:
            with torch.no_grad():
                action = int(prior(torch.as_tensor(np.asarray(obs)[None])).argmax(-1))
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            done = terminated or truncated
            if info["reply_done"]:
                print(f"  turn {info['turn'] + 1}  user: {asked!r}")
                print(f"          agent: {info['reply']!r}  (judge ratio {info['judge_ratio']:.3f})")
                asked = env.unwrapped.turn_sample.query  # the next user turn (the same one once the episode is over)
        print(f"  return {total:.3f}")
        obs, info = env.reset()
    env.close()


if __name__ == "__main__":
    main()
