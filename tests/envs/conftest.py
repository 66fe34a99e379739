"""A tiny random Qwen2.5-VL and a random latent model on it, built once per test session, and env keywords that
point every env at them (fast: d=64, 2 layers, 32x32 images, short replies, few samples)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lam_envs.backbone import Backbone, BackboneConfig
from lam_envs.backbone.tiny import TinyQwenSizes, build_tiny_qwen2_5_vl

ENV_QWEN_SIZES = TinyQwenSizes(
    hidden_size=64,
    num_layers=2,
    num_heads=4,
    num_kv_heads=2,
    intermediate_size=128,
    vision_hidden_size=32,
    vision_intermediate_size=64,
    image_size=32,
    vocab_size=800,
    initializer_range=0.2,  # an untrained model's greedy tokens vary, so token comparisons can fail
)
NUM_CODES = 16


@pytest.fixture(scope="session")
def env_backbone_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("env_qwen"), ENV_QWEN_SIZES, seed=3)


@pytest.fixture(scope="session")
def env_backbone(env_backbone_dir: Path) -> Backbone:
    # The same BackboneConfig the envs build from a path, so they share this loaded copy.
    from lam_envs.envs.resources import resolve_backbone
    from lam_envs.envs.config import ConversationConfig

    backbone, _ = resolve_backbone(ConversationConfig(backbone=env_backbone_dir))
    assert isinstance(backbone, Backbone) and backbone.config == BackboneConfig(env_backbone_dir.resolve())
    return backbone


@pytest.fixture(scope="session")
def num_codes() -> int:
    """K of the test latent model."""
    return NUM_CODES


@pytest.fixture(scope="session")
def latent_dir(env_backbone: Backbone, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lam_envs.latent.model import random_latent_model

    return random_latent_model(env_backbone, num_codes=NUM_CODES, seed=0).save_pretrained(
        tmp_path_factory.mktemp("latent")
    )


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
