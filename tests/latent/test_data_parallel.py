"""Data-parallel pretraining: 2 CPU processes (gloo, accelerate's debug launcher) match 1 process on the same global
batch: the logged losses, the averaged gradients and the trained weights; rank 0 alone writes the checkpoint."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch

accelerate = pytest.importorskip("accelerate")

from lam_envs.backbone import Backbone  # noqa: E402
from lam_envs.latent.features import Features  # noqa: E402
from lam_envs.latent.loop import _average_gradients, shard_rows  # noqa: E402
from lam_envs.latent.model import latent_config_for, new_latent_model  # noqa: E402
from lam_envs.latent.stages import PriorStageConfig, TRAINABLE, prior_stage, set_trainable  # noqa: E402

CONFIG = PriorStageConfig(steps=4, batch_size=8, checkpoint_every=2, log_every=1, seed=0)
ATOL = 1e-5  # float32 sums in another order (two half-batch means averaged vs one full-batch mean)


def _features(n: int = 12, t: int = 3, d: int = 32) -> Features:
    g = torch.Generator().manual_seed(0)
    return Features(torch.randn(n, t + 1, d, generator=g), torch.randint(600, (n, t), generator=g),
                    torch.ones(n, t, dtype=torch.bool))


def _run(backbone: Backbone, out: Path) -> None:
    """One prior stage (and the first step's averaged gradient), the results written by rank 0."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    feats = _features()
    model = new_latent_model(backbone, latent_config_for(backbone, 8), seed=0)
    # The first step's gradient, by hand: this process's shard of the global batch, then the all-reduce.
    set_trainable(model, TRAINABLE["prior"])
    rows = shard_rows(torch.randint(len(feats), (CONFIG.batch_size,), generator=torch.Generator().manual_seed(1)))
    states, labels = feats.states[:, 0][rows], feats.targets[:, 0][rows] % 8
    torch.nn.functional.cross_entropy(model.prior(states), labels).backward()
    params = [p for p in model.parameters() if p.requires_grad]
    _average_gradients(params)
    grad = torch.cat([p.grad.reshape(-1) for p in params])
    model.zero_grad(set_to_none=True)
    log = prior_stage(model, feats, CONFIG, run_dir=out / "prior", progress=False)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if rank == 0:
        torch.save({"grad": grad, "prior": model.prior.state_dict()}, out / "result.pt")
        (out / "log.json").write_text(json.dumps(log))
    (out / f"rank{rank}.done").write_text("")


def test_two_processes_match_one_on_the_same_global_batch(backbone: Backbone, tmp_path: Path) -> None:
    single, double = tmp_path / "one", tmp_path / "two"
    single.mkdir()
    double.mkdir()
    _run(backbone, single)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    accelerate.debug_launcher(_run, args=(backbone, double), num_processes=2)
    assert (double / "rank0.done").is_file() and (double / "rank1.done").is_file()
    one, two = torch.load(single / "result.pt"), torch.load(double / "result.pt")
    assert torch.allclose(one["grad"], two["grad"], atol=ATOL) and one["grad"].abs().sum() > 0
    for key, value in one["prior"].items():
        assert torch.allclose(value, two["prior"][key], atol=ATOL), key
    log1, log2 = json.loads((single / "log.json").read_text()), json.loads((double / "log.json").read_text())
    assert [r["step"] for r in log1] == [r["step"] for r in log2] == [0.0, 1.0, 2.0, 3.0]
    for a, b in zip(log1, log2):
        assert a["loss"] == pytest.approx(b["loss"], abs=ATOL) and a["acc"] == pytest.approx(b["acc"], abs=ATOL)
    # Rank 0 wrote one log; the partial checkpoint (taken at step 2) was removed when the stage finished.
    assert (double / "prior" / "log.csv").is_file() and not (double / "prior" / "partial.pt").exists()


def test_a_checkpoint_from_two_processes_resumes_in_one(backbone: Backbone, tmp_path: Path) -> None:
    """The partial checkpoint holds the global generator, so a stage killed under 2 processes resumes under 1."""
    feats = _features()
    full = new_latent_model(backbone, latent_config_for(backbone, 8), seed=0)
    prior_stage(full, feats, CONFIG, progress=False)
    out = tmp_path / "two"
    out.mkdir()
    accelerate.debug_launcher(_killed_at_3, args=(backbone, out), num_processes=2)
    assert (out / "prior" / "partial.pt").is_file()
    resumed = new_latent_model(backbone, latent_config_for(backbone, 8), seed=0)
    prior_stage(resumed, feats, CONFIG, run_dir=out / "prior", progress=False)
    for key, value in full.prior.state_dict().items():
        assert torch.allclose(value, resumed.prior.state_dict()[key], atol=ATOL), key


def _killed_at_3(backbone: Backbone, out: Path) -> None:
    torch.set_num_threads(1)
    model = new_latent_model(backbone, latent_config_for(backbone, 8), seed=0)
    config = dataclasses.replace(CONFIG)
    calls = {"n": 0}
    real_step = torch.optim.AdamW.step

    def dying_step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # after checkpoint_every=2 steps: partial.pt holds step 2
        return real_step(self, *args, **kwargs)

    torch.optim.AdamW.step = dying_step  # type: ignore[method-assign]
    try:
        prior_stage(model, _features(), config, run_dir=out / "prior", progress=False)
    except KeyboardInterrupt:
        pass
    finally:
        torch.optim.AdamW.step = real_step  # type: ignore[method-assign]
