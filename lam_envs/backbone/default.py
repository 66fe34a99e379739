"""Where the embedded default VLM ships: a tiny Qwen2.5-VL, built by :mod:`lam_envs.builders.default_vlm`
(``lam build-default``) and loaded like any checkpoint."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

ASSET_SUBDIR = ("assets", "default", "backbone")


def default_backbone_dir() -> Path:
    """Where the shipped default VLM lives inside the installed package."""
    return Path(str(resources.files("lam_envs").joinpath(*ASSET_SUBDIR)))
