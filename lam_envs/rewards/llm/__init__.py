"""LLM-judge reward: an OpenAI-compatible chat model scores replies pairwise against the references."""

from __future__ import annotations

from lam_envs.rewards.llm.judge import LLMJudge, LLMJudgeConfig

__all__ = ["LLMJudge", "LLMJudgeConfig"]
