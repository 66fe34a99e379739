"""A tiny random Qwen2.5-VL backbone and a few contexts, built once per test session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lam_envs.backbone import Backbone, BackboneConfig, Context
from lam_envs.backbone.tiny import TinyQwenSizes, build_tiny_qwen2_5_vl

# Small enough that a whole stage runs in well under a second; initializer_range 0.2 makes the untrained model's
# greedy tokens vary, so equality tests can fail.
LATENT_TEST_SIZES = TinyQwenSizes(
    hidden_size=32,
    num_layers=2,
    num_heads=2,
    num_kv_heads=1,
    intermediate_size=64,
    vision_hidden_size=32,
    vision_intermediate_size=64,
    image_size=32,
    vocab_size=600,
    initializer_range=0.2,
)


@pytest.fixture(scope="session")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Backbone:
    path: Path = build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("latent_qwen"), LATENT_TEST_SIZES, seed=3)
    return Backbone(BackboneConfig(path))


def noise_image(seed: int, size: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


@pytest.fixture
def contexts(backbone: Backbone) -> list[Context]:
    size = backbone.image_size
    return [
        Context(noise_image(0, size), [("system", "You are kind."), ("user", "What colour is the circle?")]),
        Context(None, [("user", "hello there")]),
        Context(noise_image(1, size), [("user", "Describe the picture.")]),
    ]
