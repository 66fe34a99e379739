"""BackboneConfig: validation, family detection and bad checkpoint files, with errors that say what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

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


def _json(name: str, text: str) -> Callable[[Path], None]:
    return lambda d: (d / name).write_text(text)


def _edit_json(name: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        data = json.loads((d / name).read_text())
        change(data)
        (d / name).write_text(json.dumps(data))

    return edit


def _edit_weights(change: Callable[[dict[str, torch.Tensor]], object]) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        tensors = load_file(str(d / WEIGHTS))
        change(tensors)
        save_file(tensors, str(d / WEIGHTS), metadata={"format": "pt"})

    return edit


def _middle(tensors: dict[str, torch.Tensor]) -> str:
    return sorted(k for k in tensors if k.endswith(".bias"))[0]


def _text_config(data: dict) -> dict:
    return data.get("text_config", data)


WEIGHTS = "model.safetensors"
RESAVE = "save_pretrained"
# fault: (corrupt the copy, the file the message must name ("" = the directory), a pattern of the message)
BAD_CHECKPOINTS: dict[str, tuple[Callable[[Path], object], str, str]] = {
    "weights truncated": (lambda d: (d / WEIGHTS).write_bytes((d / WEIGHTS).read_bytes()[:-100]), WEIGHTS,
                          "not a complete safetensors file"),
    "weights empty": (lambda d: (d / WEIGHTS).write_bytes(b""), WEIGHTS, "is empty"),
    "weights not safetensors": (lambda d: (d / WEIGHTS).write_bytes(b"\x80\x04junk" * 50), WEIGHTS,
                                "not a complete safetensors file"),
    "weights a directory": (lambda d: ((d / WEIGHTS).unlink(), (d / WEIGHTS).mkdir()), WEIGHTS, "is not a file"),
    "weights absent": (lambda d: (d / WEIGHTS).unlink(), "", "has no weights"),
    "weights pickled only": (lambda d: ((d / WEIGHTS).unlink(), torch.save({}, d / "pytorch_model.bin")), "",
                             r"pickled weights \['pytorch_model.bin'\].*safetensors only"),
    "index a list": (_json("model.safetensors.index.json", "[]"), "model.safetensors.index.json", "JSON list"),
    "index names a missing shard": (
        _json("model.safetensors.index.json", json.dumps({"weight_map": {"a.weight": "shard-1.safetensors"}})),
        "shard-1.safetensors", "does not exist"),
    "index escapes the directory": (
        _json("model.safetensors.index.json", json.dumps({"weight_map": {"a.weight": "../model.safetensors"}})),
        "model.safetensors.index.json", "weight_map"),
    "config a list": (_json("config.json", "[]"), "config.json", "JSON list, not an object"),
    "config a string": (_json("config.json", '"qwen2_5_vl"'), "config.json", "JSON str, not an object"),
    "config not JSON": (_json("config.json", '{"model_type": '), "config.json", "not valid JSON"),
    "config a directory": (lambda d: ((d / "config.json").unlink(), (d / "config.json").mkdir()), "config.json",
                           "is not a file"),
    "model_type missing": (_edit_json("config.json", lambda c: c.pop("model_type")), "config.json", "model_type"),
    "model_type not a string": (_edit_json("config.json", lambda c: c.update(model_type=["llava"])), "config.json",
                                "model_type"),
    "config disagrees with the weights": (
        _edit_json("config.json", lambda c: _text_config(c).update(intermediate_size=999)), "",
        r"do not match its config.json: wrong shape .*999"),
    "config unusable by transformers": (_edit_json("config.json", lambda c: c.update(text_config=[1])), "",
                                        "could not build the model"),
    "tensor missing": (_edit_weights(lambda t: t.pop(_middle(t))), "", r"do not match its config.json: missing"),
    "tensor unexpected": (_edit_weights(lambda t: t.update({"extra.weight": torch.zeros(2)})), "",
                          r"unexpected \['extra.weight'\]"),
    "tensor wrong shape": (_edit_weights(lambda t: t.update({_middle(t): torch.zeros(3)})), "",
                           r"wrong shape .*\[3\]"),
    "tensor integer": (_edit_weights(lambda t: t.update({k: v.int() for k, v in t.items()})), WEIGHTS,
                       "non-floating dtype"),
    "tokenizer absent": (lambda d: (d / "tokenizer.json").unlink(), "", "no tokenizer vocabulary"),
    "tokenizer not JSON": (_json("tokenizer.json", "{"), "tokenizer.json", "not valid JSON"),
    "tokenizer_config a list": (_json("tokenizer_config.json", "[]"), "tokenizer_config.json", "JSON list"),
    "generation_config not JSON": (_json("generation_config.json", "eos=1"), "generation_config.json",
                                   "not valid JSON"),
    "preprocessor a list": (_json("preprocessor_config.json", "[]"), "preprocessor_config.json", "JSON list"),
    "preprocessor bad mean": (_edit_json("preprocessor_config.json", lambda c: c.update(image_mean=[0.5])),
                              "preprocessor_config.json", "image_mean"),
}


@pytest.mark.parametrize("family", ["qwen", "llava"])
@pytest.mark.parametrize("fault", list(BAD_CHECKPOINTS))
def test_bad_checkpoint_files_raise_config_errors_with_the_path_and_fix(
    fault: str, family: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    corrupt, name, match = BAD_CHECKPOINTS[fault]
    ckpt = shutil.copytree(request.getfixturevalue(f"{family}_dir"), tmp_path / "ckpt")
    if name == "preprocessor_config.json" and not (ckpt / name).exists():
        (ckpt / name).write_text("{}")  # the LLaVA builder writes none; a bad one must still be refused
    corrupt(ckpt)
    with pytest.raises(BackboneConfigError, match=match) as caught:
        Backbone(BackboneConfig(ckpt))
    message = str(caught.value)
    assert str(ckpt / name if name else ckpt) in message, message
    assert RESAVE in message or "delete it" in message, message


def test_a_tokenizer_for_other_weights_is_refused(qwen_dir: Path, llava_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(llava_dir, tmp_path / "ckpt")
    big = AutoTokenizer.from_pretrained(qwen_dir)
    small = len(AutoTokenizer.from_pretrained(llava_dir))
    if len(big) <= small:
        pytest.skip("the tiny builders' tokenizers do not differ in size")
    big.save_pretrained(tmp_path / "ckpt")
    with pytest.raises(BackboneConfigError, match=r"tokenizer .* has \d+ tokens but the model's LM head"):
        Backbone(BackboneConfig(tmp_path / "ckpt"))
