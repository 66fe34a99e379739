"""The resumable loop: partial.pt holds tensors only, resumes exactly, and a bad or crafted one is refused."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable

import pytest
import torch
from torch import nn

from lam_envs.latent import LatentConfigError
from lam_envs.latent.loop import PARTIAL_NAME, LoopConfig, train_loop

CONFIG = LoopConfig(steps=6, batch_size=4, learning_rate=1e-2, checkpoint_every=2, log_every=1)
REFUSED = r"delete .*partial\.pt to restart this stage"


def _model(width: int = 3) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(width, 4), nn.Tanh(), nn.Linear(4, 1))


def _loss(model: nn.Module, die_after: int | None = None) -> Callable[[torch.Generator], dict[str, torch.Tensor]]:
    calls = {"n": 0}

    def loss_fn(generator: torch.Generator) -> dict[str, torch.Tensor]:
        calls["n"] += 1
        if die_after is not None and calls["n"] > die_after:
            raise KeyboardInterrupt  # killed mid-run, after the last checkpoint
        x = torch.randn(4, model[0].in_features, generator=generator)
        return {"loss": (model(x) - x.sum(1, keepdim=True)).pow(2).mean()}

    return loss_fn


def _killed_run(run_dir: Path) -> Path:
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        train_loop(model, _loss(model, die_after=5), CONFIG, name="t", run_dir=run_dir, progress=False)
    return run_dir / PARTIAL_NAME


def test_partial_is_tensors_only_and_resumes_exactly(tmp_path: Path) -> None:
    straight = _model()
    train_loop(straight, _loss(straight), CONFIG, name="t", progress=False)
    partial = _killed_run(tmp_path)
    saved = torch.load(partial, weights_only=True)  # no pickled objects: the safe loader reads it all
    assert saved["step"] == 4 and saved["optimizer"]["state"] and saved["generator"].dtype == torch.uint8
    resumed = _model()
    log = train_loop(resumed, _loss(resumed), CONFIG, name="t", run_dir=tmp_path, progress=False)
    assert [row["step"] for row in log] == [float(s) for s in range(6)] and not partial.exists()
    # Equal only if the optimizer moments and the batch generator were restored too, not just the weights.
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


@pytest.mark.parametrize("kind", ["torch", "raw"])
def test_a_crafted_partial_is_refused_and_never_runs(
    tmp_path: Path, crafted_pickle: Callable[[Path, str], Path], kind: str
) -> None:
    run_dir = tmp_path / "joint"
    run_dir.mkdir()
    marker = crafted_pickle(run_dir / PARTIAL_NAME, kind)
    model = _model()
    with pytest.raises(LatentConfigError, match=rf"refused to load {run_dir / PARTIAL_NAME}.*{REFUSED}") as caught:
        train_loop(model, _loss(model), CONFIG, name="t", run_dir=run_dir, progress=False)
    assert not marker.exists(), "code from the crafted file ran"
    assert "weights_only=False" not in str(caught.value), "the error must not advise the unsafe loader"


def test_the_crafted_file_would_run_code_if_unpickled(tmp_path: Path, crafted_pickle) -> None:
    """Control for the test above: the payload is live, so its marker staying absent means the loader refused it."""
    marker = crafted_pickle(tmp_path / "x.pkl", "raw")
    pickle.loads((tmp_path / "x.pkl").read_bytes())
    assert marker.exists()


def _rewrite(partial: Path, change: Callable[[dict], object]) -> None:
    saved = torch.load(partial, weights_only=True)
    result = change(saved)
    torch.save(saved if result is None else result, partial)


BAD_PARTIALS: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty": (lambda p: p.write_bytes(b""), "is empty"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:200]), "not a readable torch archive"),
    "not torch": (lambda p: p.write_text("step=4"), "not a readable torch archive|refused to load"),
    "a directory": (lambda p: (p.unlink(), p.mkdir()), "is not a file"),
    "a list": (lambda p: torch.save([1, 2], p), "not a partial checkpoint"),
    "missing key": (lambda p: _rewrite(p, lambda s: s.pop("optimizer")), "not a partial checkpoint"),
    "extra key": (lambda p: _rewrite(p, lambda s: s.update(extra=torch.zeros(1))), "not a partial checkpoint"),
    "step past the end": (lambda p: _rewrite(p, lambda s: s.update(step=99)), "step=99"),
    "step not an int": (lambda p: _rewrite(p, lambda s: s.update(step="4")), "step='4'"),
    "bad generator": (lambda p: _rewrite(p, lambda s: s.update(generator=torch.zeros(3))), "generator state"),
    "bad log": (lambda p: _rewrite(p, lambda s: s.update(log={"a": 1})), "log"),
    "other model shape": (
        lambda p: _rewrite(p, lambda s: s.update(model=_model(width=5).state_dict())),
        "does not fit this run",
    ),
    "other optimizer": (
        lambda p: _rewrite(p, lambda s: s["optimizer"].update(param_groups=[])),
        "does not fit this run",
    ),
}


@pytest.mark.parametrize("fault", list(BAD_PARTIALS))
def test_a_bad_partial_names_the_file_and_the_fix(tmp_path: Path, fault: str) -> None:
    corrupt, match = BAD_PARTIALS[fault]
    partial = _killed_run(tmp_path)
    corrupt(partial)
    model = _model()
    with pytest.raises(LatentConfigError, match=match) as caught:
        train_loop(model, _loss(model), CONFIG, name="t", run_dir=tmp_path, progress=False)
    assert str(partial) in str(caught.value)
    assert "restart this stage" in str(caught.value)
