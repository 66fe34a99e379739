"""The reward-ceiling benchmark: its best-of-n estimate, the placing of a trained score, and one small cell run."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np
import pytest


def test_expected_best_is_the_mean_the_max_and_the_brute_force_in_between(
    benchmark_script: Callable[[str], ModuleType]
) -> None:
    module = benchmark_script("reward_ceiling")
    x = np.array([0.3, 0.9, 0.1, 0.5, 0.7])
    assert module.expected_best(x, 1) == pytest.approx(x.mean())
    assert module.expected_best(x, 5) == pytest.approx(x.max())
    for n in (2, 3, 4):
        brute = np.mean([max(c) for c in itertools.combinations(x, n)])
        assert module.expected_best(x, n) == pytest.approx(brute), n
    with pytest.raises(ValueError, match="n=6 must be in 1..5"):
        module.expected_best(x, 6)


def test_the_curve_and_where_a_score_sits_on_it(benchmark_script: Callable[[str], ModuleType]) -> None:
    module = benchmark_script("reward_ceiling")
    ratios = np.array([[0.0, 1.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5]])
    curve = module.best_of_curve(ratios)
    assert list(curve) == [1, 2, 4]
    assert curve[1] == pytest.approx(0.375) and curve[4] == pytest.approx(0.75)
    assert curve[2] == pytest.approx((0.5 + 0.5) / 2)  # prompt 0: P(the 1.0 is among 2 of 4) = 1/2
    assert module.n_reaching(curve, 0.5) == 2 and module.n_reaching(curve, 0.8) is None
    assert module.equivalent_n(curve, 0.375) == pytest.approx(1.0)
    assert module.equivalent_n(curve, 0.625) == pytest.approx(2 ** 1.5)  # half-way from 2 to 4 in log2 n
    assert module.equivalent_n(curve, 0.1) is None and math.isinf(module.equivalent_n(curve, 0.9))


@pytest.mark.slow  # a few seconds: two cells of 4 prompts x 4 replies on the tiny random models
def test_a_small_run_writes_json_and_markdown(
    benchmark_script: Callable[[str], ModuleType], tiny_qwen_dir: Path, tiny_latent_dir: Path, tmp_path: Path
) -> None:
    module = benchmark_script("reward_ceiling")
    study = tmp_path / "summary.json"
    study.write_text(json.dumps([{"task": "pcogalign", "algo": "ppo", "action_space": "latent", "split": "test_id",
                                  "steps": 1000, "seeds": [0], "start_iqm": 0.1, "final_iqm": 0.2}]))
    env_kwargs = json.dumps({"backbone": str(tiny_qwen_dir), "latent_model": str(tiny_latent_dir),
                             "max_reply_tokens": 6})
    argv = ["--tasks", "pcogalign", "--splits", "test_id", "--n-prompts", "4", "--samples", "4", "--threads", "1",
            "--env-kwargs", env_kwargs, "--study", str(study), "--out", str(tmp_path / "out")]
    rows = module.main(argv)
    assert [(r["action_space"], r["split"]) for r in rows] == [("latent", "test_id"), ("token", "test_id")]
    written = json.loads((tmp_path / "out" / "ceiling.json").read_text())
    assert written == json.loads(json.dumps(rows))
    for row in rows:
        assert (row["n_prompts"], row["samples"]) == (4, 4)
        best = [row["best_of"][k] for k in ("1", "2", "4")]
        assert best == sorted(best) and 0 <= best[0] <= best[-1] <= 1.5
        assert set(row["dimensions_mean"]) == set(row["dimensions_best"])
        for d, mean in row["dimensions_mean"].items():
            assert row["dimensions_best"][d] >= mean - 1e-9, d
    assert rows[0]["trained"]["final_iqm"] == 0.2 and rows[1]["trained"] is None
    assert "| pcogalign | latent | test_id | 4 x 4 |" in (tmp_path / "out" / "ceiling.md").read_text()
