"""Tiny models shared by the env and agent tests: one random Qwen2.5-VL and one random latent model per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from lam_envs.builders.tiny import UNIT_TEST_SIZES, build_tiny_qwen2_5_vl

TINY_NUM_CODES = 16


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny Qwen2.5-VL checkpoint (:data:`UNIT_TEST_SIZES`, seed 3)."""
    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny_qwen"), UNIT_TEST_SIZES, seed=3)


@pytest.fixture(scope="session")
def tiny_latent_dir(tiny_qwen_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random (seeded, untrained) latent model with K=16 codes on :func:`tiny_qwen_dir`, saved to a directory."""
    from lam_envs.envs.config import ConversationConfig
    from lam_envs.envs.resolve import resolve_backbone
    from lam_envs.latent.model import random_latent_model

    backbone, _ = resolve_backbone(ConversationConfig(backbone=tiny_qwen_dir))
    model = random_latent_model(backbone, num_codes=TINY_NUM_CODES, seed=0)
    return model.save_pretrained(tmp_path_factory.mktemp("tiny_latent"))
