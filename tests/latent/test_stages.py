"""Stages: exact trainable sets, a frozen backbone, learning on a toy set, resuming a killed run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lam_envs.backbone import Backbone
from lam_envs.latent import new_latent_model, latent_config_for
from lam_envs.latent.features import Example, Features, extract_features
from lam_envs.latent.loop import LOG_NAME, PARTIAL_NAME
from lam_envs.latent.stages import (
    JointStageConfig,
    PriorStageConfig,
    ProjectorStageConfig,
    SFTStageConfig,
    joint_stage,
    prior_stage,
    projector_stage,
    sft_stage,
)


@dataclasses.dataclass(frozen=True)
class _Noise:
    seed: int
    size: int

    def load(self) -> Image.Image:
        rng = np.random.default_rng(self.seed)
        return Image.fromarray(rng.integers(0, 256, (self.size, self.size, 3), dtype=np.uint8))


ANSWERS = ["the circle is red", "a blue square on the left", "yes there is a cat", "i see two stars", "hello"]


@pytest.fixture(scope="module")
def data(backbone: Backbone) -> tuple[Features, Features]:
    paired = [
        Example(_Noise(i, backbone.image_size), (("user", f"what is in picture {i}?"),), ANSWERS[i % 5])
        for i in range(6)
    ]
    text = [Example(None, (("user", "tell me a story"),), a) for a in ANSWERS]
    return extract_features(backbone, paired, with_text_twin=True, batch_size=4), extract_features(backbone, text)


def _fast(cls, **kw):
    return cls(steps=3, batch_size=4, checkpoint_every=0, log_every=1, **kw)


def _model(backbone: Backbone, **kw):
    return new_latent_model(backbone, latent_config_for(backbone, 8, **kw), seed=0)


def _changed(before: dict[str, torch.Tensor], model) -> set[str]:
    return {n for n, p in model.state_dict().items() if not torch.equal(before[n], p)}


STAGE_CASES = {
    "projector": ({"projector."}, lambda m, b, p, t: projector_stage(m, p, _fast(ProjectorStageConfig), progress=False)),
    "joint": (
        {"inverse.", "codebook.", "merge.", "projector."},
        lambda m, b, p, t: joint_stage(m, b, p, t, _fast(JointStageConfig, projector_weight=1.0), progress=False),
    ),
    "prior": ({"prior."}, lambda m, b, p, t: prior_stage(m, p, _fast(PriorStageConfig), progress=False)),
    "sft": ({"merge."}, lambda m, b, p, t: sft_stage(m, b, p, _fast(SFTStageConfig, learning_rate=1e-3), progress=False)),
}


@pytest.mark.parametrize("stage", list(STAGE_CASES))
def test_trainable_sets_are_pinned(stage: str, backbone: Backbone, data) -> None:
    prefixes, run = STAGE_CASES[stage]
    model = _model(backbone)
    expected = {n for n, _ in model.named_parameters() if n.startswith(tuple(prefixes))}
    before = {n: p.clone() for n, p in model.state_dict().items()}
    frozen = {n: p.clone() for n, p in backbone.model.state_dict().items()}
    run(model, backbone, *data)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == expected
    changed = _changed(before, model)
    assert changed and changed <= expected
    # Every trainable tensor that gets a gradient moves; the LayerNorm/RMSNorm gains may too.
    assert all(torch.equal(frozen[n], p) for n, p in backbone.model.state_dict().items())
    assert not any(p.requires_grad for p in backbone.model.parameters())


def test_joint_without_projector_leaves_it_alone(backbone: Backbone, data) -> None:
    model = _model(backbone, use_projector=False)
    before = {n: p.clone() for n, p in model.state_dict().items()}
    joint_stage(model, backbone, *data, _fast(JointStageConfig), progress=False)
    assert not any(n.startswith("projector.") for n in _changed(before, model))
    assert not any(p.requires_grad for p in model.projector.parameters())


@pytest.mark.slow
def test_joint_learns_and_prior_clones(backbone: Backbone, data) -> None:
    model = _model(backbone)
    cfg = dataclasses.replace(_fast(JointStageConfig), steps=60, learning_rate=3e-3, log_every=59)
    log = joint_stage(model, backbone, *data, cfg, progress=False)
    assert log[-1]["ce_paired"] < 0.7 * log[0]["ce_paired"]
    log = prior_stage(model, data[0], dataclasses.replace(_fast(PriorStageConfig), steps=60, log_every=59),
                      progress=False)
    assert log[-1]["loss"] < log[0]["loss"]


def test_resume_matches_an_uninterrupted_run(backbone: Backbone, data, tmp_path: Path) -> None:
    cfg = dataclasses.replace(_fast(JointStageConfig), steps=6, checkpoint_every=3)
    straight = _model(backbone)
    joint_stage(straight, backbone, *data, cfg, progress=False)

    killed = _model(backbone)
    run_dir = tmp_path / "joint"
    with pytest.raises(KeyboardInterrupt):
        calls = {"n": 0}
        original = killed.inverse.forward

        def dying(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] > 8:  # two inverse calls per step: dies during step 5, after the step-3 checkpoint
                raise KeyboardInterrupt
            return original(*args, **kwargs)

        killed.inverse.forward = dying
        joint_stage(killed, backbone, *data, cfg, run_dir=run_dir, progress=False)
    assert (run_dir / PARTIAL_NAME).is_file()
    resumed = _model(backbone)
    log = joint_stage(resumed, backbone, *data, cfg, run_dir=run_dir, progress=False)
    assert not (run_dir / PARTIAL_NAME).exists() and (run_dir / LOG_NAME).is_file()
    assert [row["step"] for row in log] == [float(s) for s in range(6)]
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
