"""``lam pretrain`` and ``lam latent report`` end to end on a tiny random backbone (smoke scale)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lam_agents.commands import latent, pretrain
from lam_envs.backbone import Backbone
from lam_envs.latent import LatentActionModel


def _pretrain_args(backbone: Backbone, out: Path, **kw) -> argparse.Namespace:
    args = dict(stages=["all"], out=out, backbone=backbone.config.path, num_codes=16, no_projector=False,
                no_cycle=False, no_text_only=False, resume=False, install=False, seed=0, scale=0.003, threads=1,
                no_progress=True)
    args.update(kw)
    return argparse.Namespace(**args)


@pytest.mark.slow
def test_pretrain_resume_ablation_and_report(backbone: Backbone, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert pretrain.run(_pretrain_args(backbone, out)) == 0
    for stage in ("projector", "joint", "prior", "final"):
        assert (out / stage / "model.safetensors").is_file(), stage
    assert (out / "joint" / "log.csv").read_text().startswith("step,lr,")
    first = LatentActionModel.from_pretrained(out / "final")
    assert first.num_codes == 16
    # Resuming a finished run reuses everything; SFT alone starts from the prior stage's checkpoint.
    assert pretrain.run(_pretrain_args(backbone, out, resume=True, stages=["sft"])) == 0
    assert (out / "sft" / "model.safetensors").is_file()
    # Ablations run: no projector (its stage is skipped), no cycle, no text-only data.
    ablation = tmp_path / "ablation"
    assert pretrain.run(_pretrain_args(backbone, ablation, no_projector=True, no_text_only=True)) == 0
    assert not (ablation / "projector").exists()
    assert not LatentActionModel.from_pretrained(ablation / "final").config.use_projector
    capsys.readouterr()
    report = argparse.Namespace(model=[out / "final"], backbone=backbone.config.path, n_tokens_samples=6, n=2,
                                split="test_id", seed=0, threads=1)
    assert latent.run(report) == 0
    text = capsys.readouterr().out
    for needle in ("inverse codes (upper bound)", "codebook usage: perplexity", "cycle", "mmrole/test_id (n=2)",
                   "pcogalign/test_id"):
        assert needle in text, needle
