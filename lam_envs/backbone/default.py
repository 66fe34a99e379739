"""Where the embedded default VLM ships: a tiny Qwen2.5-VL, built by :mod:`lam_envs.builders.default_vlm`
(``lam build-default``) and loaded like any checkpoint."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

ASSET_SUBDIR = ("assets", "default", "backbone")


def default_backbone_dir() -> Path:
    """Where the shipped default VLM lives inside the installed package."""
    return Path(str(resources.files("lam_envs").joinpath(*ASSET_SUBDIR)))


DEFAULT_NAME = "lam_envs/" + "/".join(ASSET_SUBDIR)
"""How files name the embedded default VLM: its place in the package, not on one machine's disk."""


def backbone_name(path: str | Path) -> str:
    """The name a written file gives the backbone at ``path``: :data:`DEFAULT_NAME` for the embedded default (so that
    the shipped latent model's ``config.json`` names no machine's paths), else ``path`` as given."""
    return DEFAULT_NAME if Path(path).resolve() == default_backbone_dir().resolve() else str(path)
