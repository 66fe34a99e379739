"""The ablation driver pretrains a variant, measures its codebook, trains latent PPO with it, and resumes."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Callable

import pytest


def test_variants_are_the_papers_ablations(benchmark_script: Callable[[str], ModuleType]) -> None:
    module = benchmark_script("ablations")
    assert module.VARIANTS["full"] == []
    assert {"no_projector", "no_cycle", "no_text_only", "k32", "k512"} <= set(module.VARIANTS)
    assert module.model_dir(Path("x"), "full") is None
    assert module.model_dir(Path("x"), "k32") == Path("x/runs/k32/final")


@pytest.mark.slow  # ~1-2 min on 2 cores: a 1% pretraining, feature extraction and one PPO rollout
def test_smoke_run_pretrains_trains_and_resumes(
    benchmark_script: Callable[[str], ModuleType], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = benchmark_script("ablations")
    argv = ["--variants", "k32", "--pretrain-scale", "0.01", "--tasks", "mmrole", "--seeds", "0", "--steps", "64",
            "--n-eval", "2", "--usage-examples", "4", "--n-judged", "2", "--threads", "1", "--out", str(tmp_path)]
    assert module.main(argv) == 0
    table = json.loads((tmp_path / "ablations.json").read_text())
    usage = table["k32"]["usage"]
    assert usage["num_codes"] == 32 and 1 <= usage["code_perplexity"] <= 32 and 0 <= usage["dead_codes"] < 32
    assert usage["prior_reply_ratio"]["mmrole"]["n"] == 2 and 0 <= usage["prior_reply_ratio"]["mmrole"]["prior"] <= 1
    (row,) = [r for r in table["k32"]["rows"] if r["split"] == "test_id"]
    assert row["task"] == "mmrole" and row["action_space"] == "latent" and row["seeds"] == [0]
    result = json.loads((tmp_path / "k32" / "results" / "ppo_mmrole_latent_s0.json").read_text())
    assert result["settings"]["env_kwargs"]["latent_model"] == str(tmp_path / "runs" / "k32" / "final")
    assert "| k32 | 32 |" in (tmp_path / "ablations.md").read_text()

    # A second sitting redoes nothing: no pretraining, no training.
    monkeypatch.setattr(module, "subprocess", SimpleNamespace(run=lambda *a, **k: pytest.fail("pretrained again")))
    import lam_agents.learning as learning

    monkeypatch.setattr(learning, "run_one", lambda *a, **k: pytest.fail("trained again"))
    assert module.main(argv) == 0
    assert json.loads((tmp_path / "ablations.json").read_text())["k32"]["usage"] == usage
