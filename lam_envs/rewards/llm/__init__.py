"""LLM rewards and users behind OpenAI-compatible endpoints: the judge scores replies pairwise against the references
(or against the rubric where a turn has none); the simulated user writes a dialogue's next user turn."""

from __future__ import annotations

from lam_envs.rewards.llm.judge import LLMJudge, LLMJudgeConfig
from lam_envs.rewards.llm.user import UserSimulator, UserSimulatorConfig, UserSimulatorError

__all__ = ["LLMJudge", "LLMJudgeConfig", "UserSimulator", "UserSimulatorConfig", "UserSimulatorError"]
