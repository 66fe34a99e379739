"""Every registered id works with no arguments on the shipped embedded default (backbone, latent model, judge)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import lam_envs


@pytest.mark.parametrize("env_id", lam_envs.ENV_IDS)
def test_default_env_runs_a_judged_episode(env_id: str) -> None:
    env = gym.make(env_id)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    expected_n = 128 if "Latent" in env_id else env.unwrapped.setup.backbone.vocab_size
    assert env.action_space.n == expected_n
    done, steps, replies = False, 0, 0
    while not done:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        done, steps = terminated or truncated, steps + 1
        assert env.observation_space.contains(obs)
        if info["reply_done"]:
            # Each reply is judged when it ends; a dialogue then goes on from the next user turn.
            assert math.isfinite(reward) and reward >= 0 and not info["judge_failed"]
            assert isinstance(info["reply"], str) and info["reply_tokens"] == steps
            replies, steps = replies + 1, 0
        else:
            assert reward == 0.0 and "judge_ratio" not in info
    # A random agent's dialogue episode spans at least two judged replies.
    assert replies == (info["turns"] if "Dialogue" in env_id else 1) and replies >= (2 if "Dialogue" in env_id else 1)
    env.close()


@pytest.mark.slow
def test_latent_prior_codes_give_better_replies_than_random_codes() -> None:
    # The shipped prior is a sensible starting policy: its codes beat uniformly random codes on the judge.
    env = gym.make("lam/MMRole-Latent-v0")
    rewards = {"prior": [], "random": []}
    for i in range(6):
        for kind in rewards:
            obs, _ = env.reset(seed=i, options={"sample_index": i})
            done = False
            while not done:
                if kind == "prior":
                    h = torch.as_tensor(obs).unsqueeze(0)
                    action = int(env.unwrapped.setup.world_model.prior_logits(h).argmax(-1))
                else:
                    action = env.action_space.sample()
                obs, reward, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
            rewards[kind].append(reward)
    assert np.mean(rewards["prior"]) > np.mean(rewards["random"])
