"""A tiny random Qwen2.5-VL backbone and a few contexts, built once per test session; crafted pickles."""

from __future__ import annotations

import builtins
import pickle
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image

from lam_envs.backbone import Backbone, BackboneConfig, Context
from lam_envs.builders.tiny import TinyQwenSizes, build_tiny_qwen2_5_vl

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


class _Payload:
    """Unpickling this runs ``exec`` on its source: what a crafted checkpoint does to an unguarded ``torch.load``."""

    def __init__(self, marker: Path) -> None:
        self.source = f"open({str(marker)!r}, 'w').write('code from a file ran')"

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (builtins.exec, (self.source,))


def write_crafted_pickle(path: Path, marker: Path, kind: str) -> None:
    """Write a file at ``path`` whose unpickling creates ``marker``: a ``torch.save`` zip or a bare pickle stream."""
    payload = {"paired": _Payload(marker), "step": 1}
    if kind == "torch":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))


@pytest.fixture
def crafted_pickle(tmp_path: Path) -> Callable[[Path, str], Path]:
    """``crafted_pickle(path, kind)`` writes a crafted pickle (see :func:`write_crafted_pickle`) and returns the marker
    file that appears if anything unpickles it."""
    marker = tmp_path / "CODE_RAN"

    def write(path: Path, kind: str) -> Path:
        write_crafted_pickle(path, marker, kind)
        return marker

    return write
