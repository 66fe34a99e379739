"""features.pt: tensors only, a lossless round trip, and bad or crafted files refused with the file and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from lam_envs.backbone import Backbone
from lam_envs.latent import LatentConfigError
from lam_envs.latent.features import Features, load_features, save_features
from lam_envs.latent.pipeline import FEATURES_NAME, PretrainConfig, PretrainDataConfig, run_pretrain

REFUSED = r"delete .*features\.pt to recompute the features"


def _features(n: int = 5, t: int = 3, d: int = 4, text_twin: bool = True) -> Features:
    g = torch.Generator().manual_seed(0)
    states = torch.randn(n, t + 1, d, generator=g).bfloat16()
    mask = torch.rand(n, t, generator=g) > 0.3
    targets = torch.randint(0, 50, (n, t), generator=g)
    return Features(states, targets, mask, states.clone() if text_twin else None)


def _equal(a: Features, b: Features) -> bool:
    same = [torch.equal(x, y) for x, y in ((a.states, b.states), (a.targets, b.targets), (a.mask, b.mask))]
    twins = (a.text_states is None) == (b.text_states is None)
    return all(same) and twins and (a.text_states is None or torch.equal(a.text_states, b.text_states))


@pytest.mark.parametrize("with_text", [True, False])
def test_round_trip_is_tensors_only(tmp_path: Path, with_text: bool) -> None:
    paired, text = _features(), (_features(text_twin=False) if with_text else None)
    save_features(tmp_path / FEATURES_NAME, paired, text, n_task=2)
    torch.load(tmp_path / FEATURES_NAME, weights_only=True)  # nothing in it needs the unsafe loader
    got_paired, got_text, n_task = load_features(tmp_path / FEATURES_NAME)
    assert n_task == 2 and _equal(got_paired, paired)
    assert (got_text is None) if text is None else _equal(got_text, text)


@pytest.mark.parametrize("kind", ["torch", "raw"])
def test_resume_refuses_a_crafted_features_file_and_runs_nothing(
    backbone: Backbone, tmp_path: Path, crafted_pickle: Callable[[Path, str], Path], kind: str
) -> None:
    """`lam pretrain --resume` on a run directory holding a crafted features.pt."""
    out = tmp_path / "run"
    out.mkdir()
    marker = crafted_pickle(out / FEATURES_NAME, kind)
    config = PretrainConfig(data=PretrainDataConfig(n_paired=4, n_text=2), num_codes=8)
    with pytest.raises(LatentConfigError, match=rf"refused to load {out / FEATURES_NAME}: .*{REFUSED}") as caught:
        run_pretrain(backbone, out, config, resume=True, progress=False)
    assert not marker.exists(), "code from the crafted file ran"
    assert "weights_only=False" not in str(caught.value)


def _archive(path: Path, **changes: object) -> None:
    archive = {"format": 1, "paired": _features().to_tensors(), "text": None, "n_task": 1}
    archive.update(changes)
    torch.save(archive, path)


def _old_format(path: Path) -> None:
    """What lam-gym wrote before: Features objects, which need the unpickler to build a class."""
    feats = _features()
    torch.save({"paired": feats, "text": None, "task": feats.split(1)[0]}, path)


BAD_FEATURES: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "truncated": (lambda p: (_archive(p), p.write_bytes(p.read_bytes()[:300])), "not a readable torch archive"),
    "text": (lambda p: p.write_text("features"), "not a readable torch archive|refused to load"),
    "a directory": (lambda p: p.mkdir(), "is not a file"),
    "older lam-gym": (_old_format, "older lam-gym version"),
    "a list": (lambda p: torch.save([torch.zeros(1)], p), "not a features file"),
    "no format": (lambda p: _archive(p, format=None), "not a features file"),
    "missing field": (lambda p: _archive(p, paired={"states": torch.zeros(1, 2, 3)}), "must map states"),
    "not a tensor": (lambda p: _archive(p, paired={**_features().to_tensors(), "mask": [1]}), "must map states"),
    "wrong dtype": (lambda p: _archive(p, paired={**_features().to_tensors(), "mask": torch.zeros(5, 3)}), "dtypes"),
    "wrong shape": (
        lambda p: _archive(p, paired={**_features().to_tensors(), "targets": torch.zeros(5, 7, dtype=torch.long)}),
        "inconsistent feature shapes",
    ),
    "n_task too large": (lambda p: _archive(p, n_task=99), "n_task=99"),
    "n_task not an int": (lambda p: _archive(p, n_task=True), "n_task=True"),
}


@pytest.mark.parametrize("fault", list(BAD_FEATURES))
def test_a_bad_features_file_names_the_file_and_the_fix(tmp_path: Path, fault: str) -> None:
    corrupt, match = BAD_FEATURES[fault]
    path = tmp_path / FEATURES_NAME
    corrupt(path)
    with pytest.raises(LatentConfigError, match=match) as caught:
        load_features(path)
    assert str(path) in str(caught.value) and "to recompute the features" in str(caught.value)
