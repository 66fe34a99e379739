"""A tiny random Qwen2.5-VL and a random latent model on it, built once per test session, and env keywords that
point every env at them (fast: d=64, 2 layers, 32x32 images, short replies, few samples)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lam_envs.backbone import Backbone, BackboneConfig

NUM_CODES = 16  # K of tests/conftest.py's tiny latent model


@pytest.fixture(scope="session")
def env_backbone_dir(tiny_qwen_dir: Path) -> Path:
    return tiny_qwen_dir


@pytest.fixture(scope="session")
def env_backbone(env_backbone_dir: Path) -> Backbone:
    # The same BackboneConfig the envs build from a path, so they share this loaded copy.
    from lam_envs.envs.resolve import resolve_backbone
    from lam_envs.envs.config import ConversationConfig

    backbone, _ = resolve_backbone(ConversationConfig(backbone=env_backbone_dir))
    assert isinstance(backbone, Backbone) and backbone.config == BackboneConfig(env_backbone_dir.resolve())
    return backbone


@pytest.fixture(scope="session")
def num_codes() -> int:
    """K of the test latent model."""
    return NUM_CODES


@pytest.fixture(scope="session")
def latent_dir(tiny_latent_dir: Path) -> Path:
    return tiny_latent_dir


@pytest.fixture(scope="session")
def env_kwargs(env_backbone_dir: Path, latent_dir: Path, env_backbone: Backbone) -> dict[str, Any]:
    """Keywords for any lam/ id: the tiny backbone and latent model, 6 samples, replies of at most 5 tokens,
    compact prompts."""
    return {
        "backbone": str(env_backbone_dir),
        "latent_model": str(latent_dir),
        "num_samples": 6,
        "max_reply_tokens": 5,
        "prompt_style": "compact",  # short prompts keep prefill (the cost of every reset) small
    }
