"""The latent-vs-token comparison end to end on tiny models: table, JSON, plot and recorded command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lam_agents.compare import CompareConfig, format_table, run_comparison


@pytest.mark.slow
def test_comparison_writes_table_curves_and_command(tmp_path: Path, tiny_env_kwargs: dict[str, Any]) -> None:
    config = CompareConfig.quick(tasks=("mmrole",), seeds=(0, 1), steps=32, n_envs=4, n_eval=2, samples_per_prompt=2,
                                 env_kwargs=tiny_env_kwargs, out=str(tmp_path),
                                 hyperparams={"ppo": {"n_steps": 8, "batch_size": 16, "n_epochs": 1}})
    rows, table = run_comparison(config, command="pytest")
    assert {(r["action_space"], r["seed"]) for r in rows} == {("latent", 0), ("token", 0), ("latent", 1), ("token", 1)}
    assert all(0 <= r["test_id_total"] <= 2 and len(r["curve"]) == 10 for r in rows)
    assert "| mmrole | ppo | latent |" in table and "(n=2)" in table
    md = (tmp_path / "results.md").read_text()
    assert "Command: `pytest`" in md and "Commit:" in md and table in md
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert len(json.loads((tmp_path / "results.json").read_text())["rows"]) == 4


def test_table_is_mean_and_std_over_seeds() -> None:
    rows = [{"task": "t", "algo": "ppo", "action_space": "latent", "test_id_total": v, "train_seconds": 1.0}
            for v in (0.4, 0.6)]
    assert "0.500 ± 0.100 (n=2)" in format_table(rows, ("test_id",))
