"""BackboneConfig: validation and family detection with errors that say what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lam_envs.backbone import Backbone, BackboneConfig, BackboneConfigError


def test_family_is_detected_from_model_type(qwen_dir: Path, llava_dir: Path) -> None:
    assert BackboneConfig(qwen_dir).resolved_family() == "qwen2_5_vl"
    assert BackboneConfig(str(llava_dir)).resolved_family() == "llava"
    assert BackboneConfig(llava_dir, family="llava").resolved_family() == "llava"


def test_missing_directory_and_config(tmp_path: Path) -> None:
    with pytest.raises(BackboneConfigError, match="does not exist"):
        Backbone(BackboneConfig(tmp_path / "nope"))
    with pytest.raises(BackboneConfigError, match="no config.json"):
        Backbone(BackboneConfig(tmp_path))


def test_unsupported_model_type_names_the_supported_ones(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(BackboneConfigError, match=r"'gpt2'.*supported model types: \['llava', 'qwen2_5_vl'\]"):
        Backbone(BackboneConfig(tmp_path))


def test_family_contradicting_the_checkpoint(llava_dir: Path) -> None:
    with pytest.raises(BackboneConfigError, match="model_type 'llava'"):
        BackboneConfig(llava_dir, family="qwen2_5_vl").resolved_family()


def test_missing_tokenizer(llava_dir: Path, tmp_path: Path) -> None:
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        shutil.copy(llava_dir / name, tmp_path / name)
    with pytest.raises(BackboneConfigError, match="tokenizer"):
        Backbone(BackboneConfig(tmp_path))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "float16"}, "dtype='float16'"),
        ({"family": "gpt2"}, "family='gpt2'"),
        ({"image_size": 0}, "image_size=0"),
        ({"max_context_tokens": 0}, "max_context_tokens=0"),
        ({"device": "gpu"}, "device='gpu'"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(BackboneConfigError, match=match):
        BackboneConfig(Path("x"), **kwargs)  # type: ignore[arg-type]
