"""The runtime bundle: read-out, prior, checkpoint round trip, config validation, bad checkpoint files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
import torch
from safetensors.torch import load_file, save_file

from lam_envs.backbone import Backbone, Context
from lam_envs.latent import (
    LatentActionModel,
    LatentConfig,
    LatentConfigError,
    default_latent_dir,
    random_latent_model,
)
from lam_envs.latent.config import CONFIG_NAME, WEIGHTS_NAME


def test_token_logits_shapes_and_codes_matter(backbone: Backbone, contexts: list[Context]) -> None:
    model = random_latent_model(backbone, num_codes=16, seed=0)
    state = backbone.prefill(contexts)
    codes = torch.tensor([0, 5, 15])
    logits = model.token_logits(state.h, codes, backbone)
    assert logits.shape == (3, backbone.vocab_size) and logits.dtype == torch.float32
    other = model.token_logits(state.h, (codes + 1) % 16, backbone)
    assert not torch.allclose(logits, other), "different codes must change the read-out"
    assert model.prior_logits(state.h).shape == (3, 16)


def test_zero_residual_reads_out_like_the_base_vlm(backbone: Backbone, contexts: list[Context]) -> None:
    model = random_latent_model(backbone, num_codes=8, seed=1)
    with torch.no_grad():
        for block in model.merge.blocks:
            block.down.weight.zero_()
    state = backbone.prefill(contexts)
    base = backbone.lm_head(state.h).argmax(-1)
    for code in range(8):
        codes = torch.full((3,), code)
        assert torch.equal(model.token_logits(state.h, codes, backbone).argmax(-1), base)


def test_seeded_and_round_trip(backbone: Backbone, contexts: list[Context], tmp_path) -> None:
    a = random_latent_model(backbone, num_codes=12, seed=4)
    b = random_latent_model(backbone, num_codes=12, seed=4)
    c = random_latent_model(backbone, num_codes=12, seed=5)
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.codebook.weight, c.codebook.weight)
    a.save_pretrained(tmp_path / "ckpt")
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["num_codes"] == 12
    loaded = LatentActionModel.from_pretrained(tmp_path / "ckpt")
    assert loaded.config == a.config and not loaded.training
    for name, value in a.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name
    state = backbone.prefill(contexts)
    codes = torch.tensor([1, 2, 3])
    assert torch.equal(loaded.token_logits(state.h, codes, backbone), a.token_logits(state.h, codes, backbone))


def test_bfloat16_storage_loads_as_float32(backbone: Backbone, tmp_path) -> None:
    model = random_latent_model(backbone, num_codes=8)
    model.save_pretrained(tmp_path, dtype=torch.bfloat16)
    loaded = LatentActionModel.from_pretrained(tmp_path)
    assert loaded.codebook.weight.dtype == torch.float32
    assert torch.allclose(loaded.codebook.weight, model.codebook.weight, rtol=1e-2, atol=1e-2)


def test_no_gradient_reaches_the_backbone(backbone: Backbone, contexts: list[Context]) -> None:
    model = random_latent_model(backbone, num_codes=8).train()
    state = backbone.prefill(contexts)
    loss = model.token_logits(state.h, torch.tensor([0, 1, 2]), backbone).logsumexp(-1).sum()
    loss.backward()
    assert model.merge.blocks[0].down.weight.grad is not None
    assert model.codebook.weight.grad is not None
    assert all(p.grad is None and not p.requires_grad for p in backbone.model.parameters())


def test_config_errors(backbone: Backbone, tmp_path) -> None:
    with pytest.raises(LatentConfigError, match="num_codes"):
        LatentConfig(hidden_size=32, vocab_size=10, num_codes=1)
    with pytest.raises(LatentConfigError, match="inverse_heads"):
        LatentConfig(hidden_size=30, vocab_size=10, inverse_heads=4)
    with pytest.raises(LatentConfigError, match="unknown latent config keys"):
        LatentConfig.from_dict({"hidden_size": 32, "vocab_size": 10, "num_code": 4})
    with pytest.raises(LatentConfigError, match="does not exist"):
        LatentActionModel.from_pretrained(tmp_path / "missing")
    wrong = LatentActionModel(LatentConfig(hidden_size=backbone.hidden_size * 2, vocab_size=backbone.vocab_size))
    with pytest.raises(LatentConfigError, match="lam pretrain"):
        wrong.check_backbone(backbone)


def test_default_dir_is_inside_the_package() -> None:
    assert default_latent_dir().parts[-3:] == ("assets", "default", "latent")


def _edit_config(**changes: object) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        data = json.loads((d / CONFIG_NAME).read_text())
        data.update(changes)
        (d / CONFIG_NAME).write_text(json.dumps({k: v for k, v in data.items() if v is not _DROP}))

    return edit


def _edit_weights(change: Callable[[dict[str, torch.Tensor]], object]) -> Callable[[Path], None]:
    def edit(d: Path) -> None:
        tensors = load_file(str(d / WEIGHTS_NAME))
        change(tensors)
        save_file(tensors, str(d / WEIGHTS_NAME))

    return edit


_DROP = object()
FIX = "LatentActionModel.save_pretrained"
BAD_CHECKPOINTS: dict[str, tuple[Callable[[Path], object], str, str]] = {
    # fault: (corrupt the copy, file the message names, what it says)
    "weights truncated": (lambda d: (d / WEIGHTS_NAME).write_bytes((d / WEIGHTS_NAME).read_bytes()[:-7]),
                          WEIGHTS_NAME, "not a complete safetensors file"),
    "weights empty": (lambda d: (d / WEIGHTS_NAME).write_bytes(b""), WEIGHTS_NAME, "is empty"),
    "weights pickled": (lambda d: torch.save({"codebook.weight": torch.zeros(2)}, d / WEIGHTS_NAME), WEIGHTS_NAME,
                        "not a complete safetensors file"),
    "weights a directory": (lambda d: ((d / WEIGHTS_NAME).unlink(), (d / WEIGHTS_NAME).mkdir()), WEIGHTS_NAME,
                            "is not a file"),
    "weights missing": (lambda d: (d / WEIGHTS_NAME).unlink(), WEIGHTS_NAME, "does not exist"),
    "config a list": (lambda d: (d / CONFIG_NAME).write_text("[8, 32]"), CONFIG_NAME, "JSON list, not an object"),
    "config not JSON": (lambda d: (d / CONFIG_NAME).write_text("{num_codes: 8"), CONFIG_NAME, "not valid JSON"),
    "config empty": (lambda d: (d / CONFIG_NAME).write_text(""), CONFIG_NAME, "is empty"),
    "config missing": (lambda d: (d / CONFIG_NAME).unlink(), CONFIG_NAME, "does not exist"),
    "config lacks a key": (_edit_config(hidden_size=_DROP), CONFIG_NAME, r"lacks the required keys \['hidden_size'\]"),
    "config unknown key": (_edit_config(codes=8), CONFIG_NAME, "unknown latent config keys"),
    "config wrong type": (_edit_config(num_codes="8"), CONFIG_NAME, "num_codes='8' must be a JSON int"),
    "config bool for int": (_edit_config(num_codes=True), CONFIG_NAME, "num_codes=True must be a JSON int"),
    "config invalid value": (_edit_config(num_codes=1), CONFIG_NAME, "num_codes=1 must be at least 2"),
    "config K disagrees": (_edit_config(num_codes=9), WEIGHTS_NAME, r"wrong shape \['codebook.weight \[8, "),
    "config d disagrees": (_edit_config(hidden_size=64), WEIGHTS_NAME, r"wrong shape .* and \d+ more"),
    "tensor missing": (_edit_weights(lambda t: t.pop("prior.head.bias")), WEIGHTS_NAME,
                       r"missing \['prior.head.bias'\]"),
    "tensor unexpected": (_edit_weights(lambda t: t.update(extra=torch.zeros(2))), WEIGHTS_NAME,
                          r"unexpected \['extra'\]"),
    "tensor wrong shape": (_edit_weights(lambda t: t.update({"codebook.weight": torch.zeros(8, 3)})), WEIGHTS_NAME,
                           r"codebook.weight \[8, 3\]"),
    "tensor integer": (_edit_weights(lambda t: t.update({"codebook.weight": t["codebook.weight"].int()})),
                       WEIGHTS_NAME, r"not floating point \['codebook.weight I32'\]"),
}


@pytest.mark.parametrize("fault", list(BAD_CHECKPOINTS))
def test_bad_checkpoint_files_raise_config_errors_with_the_path_and_fix(
    backbone: Backbone, tmp_path: Path, fault: str
) -> None:
    corrupt, name, match = BAD_CHECKPOINTS[fault]
    ckpt = random_latent_model(backbone, num_codes=8).save_pretrained(tmp_path / "ckpt")
    corrupt(ckpt)
    with pytest.raises(LatentConfigError, match=match) as caught:
        LatentActionModel.from_pretrained(ckpt)
    message = str(caught.value)
    assert str(ckpt / name) in message and (FIX in message or "lam pretrain" in message), message


def test_the_shipped_default_passes_the_checks() -> None:
    model = LatentActionModel.from_pretrained(default_latent_dir())
    assert model.num_codes == 128
