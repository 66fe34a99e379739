"""A tiny random Qwen2.5-VL and latent model for the agent tests (the env tests' sizes), and env keywords for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

NUM_CODES = 16  # K of tests/conftest.py's tiny latent model


@pytest.fixture(scope="session")
def agent_backbone_dir(tiny_qwen_dir: Path) -> Path:
    return tiny_qwen_dir


@pytest.fixture(scope="session")
def agent_latent_dir(tiny_latent_dir: Path) -> Path:
    return tiny_latent_dir


@pytest.fixture(scope="session")
def tiny_env_kwargs(agent_backbone_dir: Path, agent_latent_dir: Path) -> dict[str, Any]:
    """Keywords for any lam/ id: tiny models, 4 samples, replies of at most 4 tokens, compact prompts."""
    return {
        "backbone": str(agent_backbone_dir),
        "latent_model": str(agent_latent_dir),
        "num_samples": 4,
        "max_reply_tokens": 4,
        "prompt_style": "compact",
    }
