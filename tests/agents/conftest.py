"""A tiny random Qwen2.5-VL and latent model for the agent tests (the env tests' sizes), and env keywords for them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lam_envs.backbone.tiny import TinyQwenSizes, build_tiny_qwen2_5_vl

AGENT_QWEN_SIZES = TinyQwenSizes(
    hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=128, vision_hidden_size=32,
    vision_intermediate_size=64, image_size=32, vocab_size=800, initializer_range=0.2,
)
NUM_CODES = 16


@pytest.fixture(scope="session")
def agent_backbone_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("agent_qwen"), AGENT_QWEN_SIZES, seed=3)


@pytest.fixture(scope="session")
def agent_latent_dir(agent_backbone_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lam_envs.envs.config import ConversationConfig
    from lam_envs.envs.resources import resolve_backbone
    from lam_envs.latent.model import random_latent_model

    backbone, _ = resolve_backbone(ConversationConfig(backbone=agent_backbone_dir))
    return random_latent_model(backbone, num_codes=NUM_CODES, seed=0).save_pretrained(tmp_path_factory.mktemp("lat"))


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
