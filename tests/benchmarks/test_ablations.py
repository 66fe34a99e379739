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


def test_tables_are_the_readmes_layout(benchmark_script: Callable[[str], ModuleType]) -> None:
    module = benchmark_script("ablations")
    usage = {"num_codes": 32, "code_perplexity": 21.8, "dead_codes": 0, "acc_inverse": 0.857, "acc_prior": 0.683,
             "prior_reply_ratio": {"mmrole": {"prior": 0.4, "n": 100}}}

    def row(split: str, lo: float, hi: float) -> dict[str, object]:
        return {"task": "mmrole", "split": split, "seeds": [0, 1, 2], "start_iqm": 0.38, "final_iqm": 0.43,
                "improvement_iqm": 0.047, "improvement_ci": [lo, hi]}

    table = {"k32": {"usage": usage, "rows": [row("test_id", 0.037, 0.063), row("test_ood", -0.006, 0.033)]},
             "k512": {"usage": dict(usage, num_codes=512)}, "no_cycle": {"usage": usage}}
    assert module.usage_table(table)[2] == "| K = 32 | 32 | 21.8 | 0 | 0.857 / 0.683 | 0.400 |  |"
    assert module.usage_table(table)[4].endswith("| 0.870 |")  # the paper's score beside no cycle loss
    rl = module.rl_table(table)
    assert rl[0].count("|") == 1 + 3 + 1  # variant + three MMRole columns
    assert rl[2] == "| K = 32 | 0.380 → 0.430 (n=3) | **+0.047 [+0.037, +0.063]** | +0.047 [-0.006, +0.033] |"
    assert rl[3].startswith("| K = 512 | not yet trained |") and rl[3].count("|") == rl[0].count("|")


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
    assert "| K = 32 | 32 |" in (tmp_path / "ablations.md").read_text()

    # A second sitting redoes nothing: no pretraining, no training.
    monkeypatch.setattr(module, "subprocess", SimpleNamespace(run=lambda *a, **k: pytest.fail("pretrained again")))
    import lam_agents.learning as learning

    monkeypatch.setattr(learning, "run_one", lambda *a, **k: pytest.fail("trained again"))
    assert module.main(argv) == 0
    assert json.loads((tmp_path / "ablations.json").read_text())["k32"]["usage"] == usage

    # Replies judged by an older rule judge are judged again; the codebook measures stand.
    from lam_envs.tasks import task_spec

    assert usage["rule_judge_versions"] == {"mmrole": task_spec("mmrole").rule_judge_version}
    cached = tmp_path / "usage" / "k32.json"
    cached.write_text(json.dumps({**usage, "rule_judge_versions": {}, "prior_reply_ratio": {
        "mmrole": {**usage["prior_reply_ratio"]["mmrole"], "prior": -1.0}}}))
    monkeypatch.setattr(module, "heldout_features", lambda *a: pytest.fail("codebook measured again"))
    assert module.main(argv) == 0
    again = json.loads(cached.read_text())
    assert again == usage  # the judged replies are redone (not -1), and give what they gave
