"""Data-parallel pretraining: 2 CPU processes (gloo, accelerate's debug launcher) match 1 process on the same global
batch in every stage (projector, joint, prior, sft): the logged losses, the all-reduced gradient of every step and
the trained weights; rank 0 alone writes the logs; a checkpoint taken under 2 processes resumes under 1."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

accelerate = pytest.importorskip("accelerate")

from lam_envs.backbone import Backbone  # noqa: E402
from lam_envs.latent import loop  # noqa: E402
from lam_envs.latent.features import Features  # noqa: E402
from lam_envs.latent.model import LatentActionModel, latent_config_for, new_latent_model  # noqa: E402
from lam_envs.latent.stages import (  # noqa: E402
    JointStageConfig,
    PriorStageConfig,
    ProjectorStageConfig,
    SFTStageConfig,
    joint_stage,
    prior_stage,
    projector_stage,
    sft_stage,
)

FAST = {"steps": 3, "batch_size": 8, "checkpoint_every": 0, "log_every": 1, "seed": 0}
# float32 sums in another order (two shard sums added vs one batch sum); the projector NLLs are sums over d channels
# of tens of nats, hence the relative part.
ATOL, RTOL = 1e-5, 1e-5
# After a few AdamW steps: its first update is about lr * g / (|g| + eps), so a 1e-7 gradient difference on an entry
# whose gradient is itself near 0 moves that weight by up to ~lr (1e-3); measured: 1e-5 in the joint stage.
WEIGHT_ATOL = 1e-4
CONFIG = PriorStageConfig(steps=4, batch_size=8, checkpoint_every=2, log_every=1, seed=0)


def _features(n: int, t: int = 5, d: int = 32, *, paired: bool, seed: int) -> Features:
    """Rows of unequal lengths (one with no valid target at all), so the batch trimming, the token counts and the
    shards' shares all matter."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([t, 1, 0, 3, 2, 4, t, 2, 1, 3, t, 2][:n])
    mask = torch.arange(t)[None, :] < lengths[:, None]
    states = torch.randn(n, t + 1, d, generator=g)
    text = states + 0.3 * torch.randn(n, t + 1, d, generator=g) if paired else None
    return Features(states, torch.randint(600, (n, t), generator=g), mask, text)


def _stages() -> dict[str, Callable[[LatentActionModel, Backbone, Features, Features, Path], list]]:
    # Large entropy and projector weights so that those terms' gradients are not lost under the CE's.
    joint = JointStageConfig(**FAST, entropy_weight=1.0, projector_weight=0.05)
    return {
        "projector": lambda m, b, p, t, d: projector_stage(m, p, ProjectorStageConfig(**FAST), run_dir=d,
                                                           progress=False),
        "joint": lambda m, b, p, t, d: joint_stage(m, b, p, t, joint, run_dir=d, progress=False),
        "prior": lambda m, b, p, t, d: prior_stage(m, p, PriorStageConfig(**FAST), run_dir=d, progress=False),
        "sft": lambda m, b, p, t, d: sft_stage(m, b, p, SFTStageConfig(**{**FAST, "learning_rate": 1e-3}),
                                               run_dir=d, progress=False),
    }


def _run_every_stage(backbone: Backbone, out: Path) -> None:
    """Each stage from the same fresh model; rank 0 saves its log, every step's reduced gradient and the weights."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    paired, text = _features(12, paired=True, seed=0), _features(10, paired=False, seed=1)
    grads: list[torch.Tensor] = []
    real = loop._sum_gradients

    def recording(params: list[torch.nn.Parameter]) -> None:
        real(params)  # what the optimizer step sees (before the clip): the all-reduced gradient
        grads.append(torch.cat([p.grad.reshape(-1) for p in params]).clone())

    loop._sum_gradients = recording  # type: ignore[assignment]
    try:
        results: dict[str, Any] = {}
        for name, run in _stages().items():
            model = new_latent_model(backbone, latent_config_for(backbone, 8), seed=0)
            grads.clear()
            log = run(model, backbone, paired, text, out / name)
            results[name] = {"log": log, "grads": torch.stack(grads), "weights": model.state_dict()}
    finally:
        loop._sum_gradients = real  # type: ignore[assignment]
    rank = dist.get_rank() if dist.is_initialized() else 0
    if rank == 0:
        torch.save(results, out / "results.pt")
    (out / f"rank{rank}.done").write_text("")


@pytest.fixture(scope="module")
def one_and_two(backbone: Backbone, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, Path]:
    single, double = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    _run_every_stage(backbone, single)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    accelerate.debug_launcher(_run_every_stage, args=(backbone, double), num_processes=2)
    assert (double / "rank0.done").is_file() and (double / "rank1.done").is_file()
    return torch.load(single / "results.pt"), torch.load(double / "results.pt"), double


@pytest.mark.parametrize("stage", ["projector", "joint", "prior", "sft"])
def test_two_processes_match_one_on_the_same_global_batch(stage: str, one_and_two) -> None:
    one, two = one_and_two[0][stage], one_and_two[1][stage]
    assert [r["step"] for r in one["log"]] == [r["step"] for r in two["log"]] == [0.0, 1.0, 2.0]
    for a, b in zip(one["log"], two["log"]):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], abs=ATOL, rel=RTOL), (stage, a["step"], key)
    assert one["grads"].shape == two["grads"].shape and one["grads"].abs().sum() > 0
    torch.testing.assert_close(two["grads"], one["grads"], atol=ATOL, rtol=RTOL)
    for key, value in one["weights"].items():
        torch.testing.assert_close(two["weights"][key], value, atol=WEIGHT_ATOL, rtol=RTOL, msg=key)


def test_rank_zero_alone_writes_the_logs(one_and_two) -> None:
    double = one_and_two[2]
    for stage in ("projector", "joint", "prior", "sft"):
        rows = (double / stage / loop.LOG_NAME).read_text().splitlines()
        assert len(rows) == 4, stage  # a header and 3 rows: one writer, not two appending
        assert not (double / stage / loop.PARTIAL_NAME).exists()


def test_a_checkpoint_from_two_processes_resumes_in_one(backbone: Backbone, tmp_path: Path) -> None:
    """The partial checkpoint holds the global generator, so a stage killed under 2 processes resumes under 1."""
    feats = _features(12, paired=False, seed=0)
    full = new_latent_model(backbone, latent_config_for(backbone, 8), seed=0)
    prior_stage(full, feats, CONFIG, progress=False)
    out = tmp_path / "two"
    out.mkdir()
    accelerate.debug_launcher(_killed_at_3, args=(backbone, out), num_processes=2)
    assert (out / "prior" / "partial.pt").is_file()
    resumed = new_latent_model(backbone, latent_config_for(backbone, 8), seed=0)
    prior_stage(resumed, feats, CONFIG, run_dir=out / "prior", progress=False)
    for key, value in full.prior.state_dict().items():
        torch.testing.assert_close(resumed.prior.state_dict()[key], value, atol=ATOL, rtol=RTOL, msg=key)


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
        prior_stage(model, _features(12, paired=False, seed=0), config, run_dir=out / "prior", progress=False)
    except KeyboardInterrupt:
        pass
    finally:
        torch.optim.AdamW.step = real_step  # type: ignore[method-assign]


def test_each_rank_puts_the_backbone_on_its_own_gpu_under_cuda() -> None:
    """Only the choice is tested (no GPU here): ``cuda:<local rank>`` from accelerate's state, else the CPU."""
    from types import SimpleNamespace

    from lam_agents.commands.pretrain import _backbone_device

    assert _backbone_device(None) == "cpu"
    assert _backbone_device(SimpleNamespace(device=torch.device("cpu"))) == "cpu"
    assert _backbone_device(SimpleNamespace(device=torch.device("cuda", 1))) == "cuda:1"



def _pretrain(backbone: Backbone, out: Path) -> None:
    """``lam pretrain`` at smoke scale (the CLI starts accelerate's state when launched with 2 processes)."""
    import argparse

    from lam_agents.commands import pretrain

    args = argparse.Namespace(stages=["all", "sft"], out=out, backbone=backbone.config.path, num_codes=16,
                              no_projector=False, no_cycle=False, no_text_only=False, resume=False, install=False,
                              seed=0, scale=0.003, threads=1, no_progress=True)
    assert pretrain.run(args) == 0


def test_lam_pretrain_on_two_processes_builds_the_one_process_model(backbone: Backbone, tmp_path: Path) -> None:
    """End to end through the CLI and the pipeline (features, stage order, rank-0 checkpoints, barriers)."""
    _pretrain(backbone, tmp_path / "one")
    accelerate.debug_launcher(_pretrain, args=(backbone, tmp_path / "two"), num_processes=2)
    one = LatentActionModel.from_pretrained(tmp_path / "one" / "final").state_dict()
    two = LatentActionModel.from_pretrained(tmp_path / "two" / "final").state_dict()
    for key, value in one.items():
        torch.testing.assert_close(two[key], value, atol=WEIGHT_ATOL, rtol=RTOL, msg=key)
