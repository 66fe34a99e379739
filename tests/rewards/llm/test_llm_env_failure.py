"""judge_failure_reward works with an LLM judge whatever its on_failure: the env pays it and flags the reply."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest
from fake_server import FakeChatServer, error

import lam_envs  # noqa: F401  (registers the ids)
from lam_envs.rewards.base import JudgeError
from lam_envs.rewards.llm import LLMJudgeConfig


def _env(tiny_qwen_dir: Path, server: FakeChatServer, **extra: object) -> gym.Env:
    judge = LLMJudgeConfig(base_url=server.base_url, model="fake-judge", timeout_s=2.0, max_retries=0,
                           backoff_base_s=0.001, backoff_max_s=0.01, max_parse_retries=0, on_failure="raise")
    return gym.make("lam/MMRole-Token-v0", backbone=str(tiny_qwen_dir), num_samples=2, max_reply_tokens=2,
                    prompt_style="compact", reward=judge, **extra)


def _finish(env: gym.Env) -> tuple[float, dict]:
    env.reset(seed=0)
    while True:
        _, reward, terminated, truncated, info = env.step(5)
        if terminated or truncated:
            return float(reward), info


def test_failure_reward_is_paid_and_flagged_even_when_the_judge_would_raise(
    tiny_qwen_dir: Path, fake_server: FakeChatServer
) -> None:
    fake_server.push(*[error(500)] * 8)
    env = _env(tiny_qwen_dir, fake_server, judge_failure_reward=-1.0)
    reward, info = _finish(env)
    assert reward == -1.0 and info["judge_failed"] and info["judge_error"]


def test_without_a_failure_reward_the_env_raises_and_says_what_to_set(
    tiny_qwen_dir: Path, fake_server: FakeChatServer
) -> None:
    fake_server.push(*[error(500)] * 8)
    env = _env(tiny_qwen_dir, fake_server)
    with pytest.raises(JudgeError, match="judge_failure_reward"):
        _finish(env)
