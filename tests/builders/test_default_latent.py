"""Installing a latent model as the shipped default: bfloat16 weights, the build's record, loadable as any model."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from lam_envs.builders.default_latent import DEFAULT_PRETRAIN, install_latent
from lam_envs.latent import LatentActionModel
from lam_envs.latent.pipeline import PretrainConfig


def test_install_stores_bfloat16_and_the_note(tiny_latent_dir: Path, tmp_path: Path) -> None:
    out = install_latent(tiny_latent_dir, tmp_path / "asset", note={"stages": ["joint"]})
    assert out == tmp_path / "asset"
    assert {t.dtype for t in load_file(out / "model.safetensors").values()} == {torch.bfloat16}
    assert json.loads((out / "build.json").read_text()) == {"stages": ["joint"]}
    original = LatentActionModel.from_pretrained(tiny_latent_dir).state_dict()
    installed = LatentActionModel.from_pretrained(out).state_dict()
    assert all(torch.equal(installed[k], original[k].to(torch.bfloat16).float()) for k in original)


def test_the_shipped_settings_are_lam_pretrains_defaults() -> None:
    """``lam pretrain`` starts from PretrainConfig() without importing the builders; both must stay the same."""
    assert DEFAULT_PRETRAIN == PretrainConfig()
