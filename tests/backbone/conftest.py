"""Tiny random checkpoints of both families, built once per test session."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from lam_envs.backbone import Backbone, BackboneConfig, Context
from lam_envs.builders.tiny import UNIT_TEST_SIZES, build_tiny_llava, build_tiny_qwen2_5_vl



@pytest.fixture(scope="session")
def qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("qwen"), UNIT_TEST_SIZES, seed=1)


@pytest.fixture(scope="session")
def llava_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("llava"), initializer_range=0.2, seed=2)


@pytest.fixture(scope="session")
def qwen(qwen_dir: Path) -> Backbone:
    return Backbone(BackboneConfig(qwen_dir))


@pytest.fixture(scope="session")
def llava(llava_dir: Path) -> Backbone:
    return Backbone(BackboneConfig(llava_dir))


@pytest.fixture(params=["qwen", "llava"])
def backbone(request: pytest.FixtureRequest) -> Backbone:
    return request.getfixturevalue(request.param)


def random_image(seed: int, size: int) -> Image.Image:
    """A noise image: every pixel matters, so a wrong patch order or normalisation shows."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


@pytest.fixture
def noise_image() -> Callable[[int, int], Image.Image]:
    """``noise_image(seed, size)`` -> a seeded noise image."""
    return random_image


@pytest.fixture
def contexts(backbone: Backbone) -> list[Context]:
    """Contexts of different lengths, with and without images, with and without a system message."""
    image_size = backbone.image_size
    return [
        Context(random_image(0, image_size), [("system", "You are kind."), ("user", "What colour is the circle?")]),
        Context(None, [("user", "hello there")]),
        Context(
            random_image(1, image_size),
            [("user", "Describe the picture."), ("assistant", "A red square."), ("user", "Where is it in the scene?")],
        ),
    ]
