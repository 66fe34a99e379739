"""The learning study: paired start/end scores, resumable runs, rliable statistics and the audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lam_agents.learning import (
    LearningConfig,
    degenerate_patterns,
    diversity,
    improvement,
    iqm,
    iqm_ci,
    run_study,
    steps_to_reach,
)

SMALL_PPO = {"n_steps": 8, "batch_size": 16, "n_epochs": 1}


def test_study_runs_resumes_and_summarizes(tmp_path: Path, tiny_env_kwargs: dict[str, Any]) -> None:
    config = LearningConfig(tasks=("mmrole",), algos=("ppo",), seeds=(0, 1), steps=32, n_envs=2, n_eval=2,
                            samples_per_prompt=2, splits=("test_id",), env_kwargs=tiny_env_kwargs,
                            hyperparams={"ppo": SMALL_PPO}, bootstrap_reps=50, out=str(tmp_path / "study"))
    rows = run_study(config, command="test", progress=False)
    assert {(r["action_space"], r["split"]) for r in rows} == {("latent", "test_id"), ("token", "test_id")}
    for r in rows:
        for key in ("task", "algo", "action_space", "seeds", "start_iqm", "final_iqm", "final_ci", "improvement_ci",
                    "steps_to_token_final"):
            assert key in r
        assert r["seeds"] == [0, 1] and r["final_ci"][0] <= r["final_iqm"] <= r["final_ci"][1]
    latent = next(r for r in rows if r["action_space"] == "latent")
    assert 0.0 <= latent["p_latent_over_token"] <= 1.0
    summary = json.loads((tmp_path / "study" / "summary.json").read_text())
    assert len(summary) == 2 and (tmp_path / "study" / "curves.png").is_file()
    assert "Reward-hacking audit" in (tmp_path / "study" / "summary.md").read_text()
    result = tmp_path / "study" / "results" / "ppo_mmrole_latent_s0.json"
    stamp = result.stat().st_mtime_ns
    run_study(config, command="test", progress=False)  # finished runs are kept and skipped
    assert result.stat().st_mtime_ns == stamp
    saved = json.loads(result.read_text())
    assert len(saved["start"]["test_id"]["replies"]) == 2 and len(saved["curve"]) == 10
    assert saved["resolved_hyperparams"]["n_steps"] == 8 and saved["resolved_hyperparams"]["n_envs"] == 2

    # A run whose YAML entry has changed since is run again; one recorded before the keywords were is kept.
    saved["resolved_hyperparams"]["learning_rate"] = 123.0
    result.write_text(json.dumps(saved))
    older = tmp_path / "study" / "results" / "ppo_mmrole_token_s1.json"
    record = json.loads(older.read_text())
    del record["resolved_hyperparams"]
    older.write_text(json.dumps(record))
    kept = older.stat().st_mtime_ns
    run_study(config, command="test", progress=False)
    assert json.loads(result.read_text())["resolved_hyperparams"]["learning_rate"] != 123.0
    assert older.stat().st_mtime_ns == kept


def test_a_dialogue_study_scores_whole_dialogues(tmp_path: Path, tiny_env_kwargs: dict[str, Any]) -> None:
    config = LearningConfig(tasks=("mmrole",), algos=("ppo",), action_spaces=("latent",), seeds=(0,), steps=32,
                            n_envs=2, n_eval=2, samples_per_prompt=1, splits=("test_id",), env_kwargs=tiny_env_kwargs,
                            hyperparams={"ppo": SMALL_PPO}, bootstrap_reps=50, out=str(tmp_path / "study"),
                            dialogue=True)
    (row,) = run_study(config, command="test", progress=False)
    saved = json.loads((tmp_path / "study" / "results" / "ppo_mmrole_latent_s0.json").read_text())
    assert saved["settings"]["dialogue"] is True
    start = saved["start"]["test_id"]
    # Each prompt's episode is a whole dialogue: several replies, joined, each counted in the reply lengths.
    assert all(" | " in r for row_ in start["replies"] for r in row_)
    assert len(start["reply_tokens"]) > len(start["replies"])
    assert 0.0 <= row["final_iqm"] <= 10.0


def test_readme_table_has_one_line_per_run_group_and_bolds_cis_that_exclude_zero() -> None:
    from lam_agents.learning import readme_table

    def row(algo: str, kind: str, split: str, gain: float, ci: list[float], p: float | None = None):
        return {"algo": algo, "task": "mmrole", "action_space": kind, "split": split, "start_iqm": 0.3,
                "final_iqm": 0.3 + gain, "improvement_iqm": gain, "improvement_ci": ci,
                "p_latent_over_token": p, "p_latent_over_token_ci": None if p is None else [0.4, 1.0]}

    rows = [row("a2c", "latent", "test_id", 0.01, [-0.01, 0.02]), row("ppo", "latent", "test_id", 0.05, [0.02, 0.07], 0.8),
            row("ppo", "latent", "test_ood", 0.04, [0.01, 0.05]), row("ppo", "token", "test_id", 0.06, [0.03, 0.08])]
    lines = readme_table(rows).splitlines()
    assert lines[2] == ("| PPO | mmrole | latent | 0.300 → 0.350 | **+0.050 [0.020, 0.070]** | "
                        "**+0.040 [0.010, 0.050]** | 0.80 [0.40, 1.00] |")
    assert lines[3].startswith("| PPO | mmrole | token |") and lines[3].endswith("| - |  |")
    assert lines[4] == "| A2C | mmrole | latent | 0.300 → 0.310 | +0.010 [-0.010, 0.020] | - |  |"


def test_templated_share_flags_one_skeleton_filled_in_for_every_prompt() -> None:
    from lam_agents.learning import skeleton, templated_share
    from lam_envs.rewards.rules import rule_judge

    slots = rule_judge("mmrole").slots
    template = [["Zoom! This picture was taken in the park, no question."],
                ["Boom! This picture was taken at the beach, no question."],
                ["Zoom! This picture was taken on the street, no question."]]
    assert skeleton(template[0][0], slots)[2:] == skeleton(template[2][0], slots)[2:]
    assert templated_share(template, slots) == 1.0
    written = [["I count three red circles at the top left."], ["The blue square is in the middle, dearie."],
               ["Zoom! This picture was taken in the park, no question."]]
    assert templated_share(written, slots) == 0.0
    # Repeats within one prompt's samples are diversity's business, not a template across prompts.
    assert templated_share([["same words here", "same words here"], ["other words there"]], slots) == 0.0


def test_degenerate_patterns() -> None:
    assert degenerate_patterns("ok.", False) == {"very_short"}
    assert "repetition" in degenerate_patterns("the red cat the red cat the red cat sat", False)
    assert "lists_colours_or_shapes" in degenerate_patterns("red blue green yellow purple things here now", False)
    assert "cut_at_limit" in degenerate_patterns("a perfectly fine reply that was cut", True)
    assert degenerate_patterns("I see a red circle in the top left corner.", False) == set()


def test_diversity_and_steps_to_reach() -> None:
    d = diversity([["a b c", "a b c"], ["x y", "z w"]])
    assert d["distinct_replies"] == pytest.approx(0.75) and 0 < d["distinct_1"] <= 1
    assert steps_to_reach(np.array([0.1, 0.3, 0.5, np.nan]), 0.3, 400) == 200
    assert steps_to_reach(np.array([0.1, 0.2]), 0.9, 100) is None


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 12, 40])
def test_iqm_equals_rliable_aggregate_iqm(n: int) -> None:
    from rliable import metrics

    x = np.random.default_rng(n).normal(size=(n, 1))
    assert iqm(x) == pytest.approx(float(metrics.aggregate_iqm(x)), abs=1e-12)


@pytest.mark.parametrize("shape", [(3, 3), (5, 4), (2, 7), (6, 6)])
def test_improvement_equals_rliable_probability_of_improvement(shape: tuple[int, int]) -> None:
    from rliable import metrics

    rng = np.random.default_rng(sum(shape))
    x, y = rng.normal(size=(shape[0], 1)), rng.normal(size=(shape[1], 1))
    y[0] = x[0]  # a tie counts half
    for a, b in ((x, y), (y, x), (x, x), (np.round(x), np.round(y))):
        assert improvement(a, b) == pytest.approx(float(metrics.probability_of_improvement(a, b)), abs=1e-12)


def test_iqm_ci_brackets_the_point() -> None:
    point, (lo, hi) = iqm_ci(np.array([0.1, 0.2, 0.3, 0.4, 0.5]), reps=200)
    assert lo <= point <= hi and point == pytest.approx(0.3)
