"""Registry-wide checks: every registered ``lam/`` id, discovered from Gymnasium's registry, passes Gymnasium's and
SB3's env checkers, replays identically under the same seed, survives pickling and close, and gives a random agent
judged rewards over full episodes."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import lam_envs
from lam_envs.envs.registration import ENV_IDS

LAM_IDS = sorted(env_id for env_id in gym.registry if env_id.startswith("lam/"))


def test_the_eight_ids_are_registered() -> None:
    assert LAM_IDS == sorted(ENV_IDS) == sorted(
        ["lam/MMRole-Latent-v0", "lam/MMRole-Token-v0", "lam/PCogAlign-Latent-v0", "lam/PCogAlign-Token-v0",
         "lam/MMRole-Dialogue-Latent-v0", "lam/MMRole-Dialogue-Token-v0", "lam/PCogAlign-Dialogue-Latent-v0",
         "lam/PCogAlign-Dialogue-Token-v0"]
    )
    assert lam_envs.ENV_IDS == ENV_IDS


def test_import_registers_without_loading_torch() -> None:
    code = "import sys, lam_envs, gymnasium as gym; assert 'lam/MMRole-Latent-v0' in gym.registry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def rollout(env: gym.Env, seed: int, steps: int) -> list[Any]:
    obs, info = env.reset(seed=seed)
    trace: list[Any] = [(obs, info)]
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        action = int(rng.integers(env.action_space.n))
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            trace.append((obs, info))
    return trace


@pytest.mark.parametrize("env_id", LAM_IDS)
def test_gymnasium_and_sb3_check_env(env_id: str, env_kwargs: dict[str, Any]) -> None:
    env = gym.make(env_id, **env_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # finite bounds, correct dtypes: the checkers must not even warn
        gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=True)
    env.close()


@pytest.mark.parametrize("env_id", LAM_IDS)
def test_same_seed_same_rollout(env_id: str, env_kwargs: dict[str, Any]) -> None:
    a, b = gym.make(env_id, **env_kwargs), gym.make(env_id, **env_kwargs)
    trace_a, trace_b = rollout(a, 7, 12), rollout(b, 7, 12)
    assert gym.utils.env_checker.data_equivalence(trace_a, trace_b)
    other = rollout(a, 8, 12)
    assert not gym.utils.env_checker.data_equivalence(trace_a, other)


@pytest.mark.parametrize("env_id", LAM_IDS)
def test_pickle_and_close_round_trip(env_id: str, env_kwargs: dict[str, Any]) -> None:
    env = gym.make(env_id, **env_kwargs).unwrapped
    copy = pickle.loads(pickle.dumps(env))
    assert type(copy) is type(env) and copy.task == env.task and copy.action_kind == env.action_kind
    assert gym.utils.env_checker.data_equivalence(rollout(env, 3, 6), rollout(copy, 3, 6))
    env.close()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    assert gym.utils.env_checker.data_equivalence(rollout(env, 3, 6), rollout(copy, 3, 6))


@pytest.mark.parametrize("env_id", LAM_IDS)
def test_random_agent_gets_judge_rewards(env_id: str, env_kwargs: dict[str, Any]) -> None:
    env = gym.make(env_id, **env_kwargs)
    env.action_space.seed(0)
    for episode in range(2):
        env.reset(seed=episode)
        steps, done, reward, info, judged = 0, False, 0.0, {}, 0
        while not done:
            _, reward, terminated, truncated, info = env.step(env.action_space.sample())
            steps += 1
            done = terminated or truncated
            judged += info["reply_done"]
        assert steps <= env_kwargs["max_reply_tokens"] * judged
        # A dialogue episode is several judged replies (at least two on these samples); a reply episode one.
        assert judged >= 2 if "Dialogue" in env_id else judged == 1
        assert not info["judge_failed"] and math.isfinite(info["judge_ratio"])
        assert reward == pytest.approx(info["judge_ratio"])
        assert set(info["judge_scores"]) == set(env.unwrapped.setup.reward.dimensions)
        assert info["reply"] == env.unwrapped.reply and isinstance(info["is_success"], bool)
