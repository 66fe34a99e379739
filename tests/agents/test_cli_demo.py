from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lam_agents.cli import main


@pytest.mark.slow
def test_demo_trains_both_action_spaces_and_prints_start_to_end(tmp_path: Path, capsys) -> None:
    argv = ["demo", "--steps", "128", "--seeds", "0", "1", "--tasks", "pcogalign", "--out", str(tmp_path)]
    before = logging.getLogger("lam_agents").level
    assert main(argv) == 0
    assert logging.getLogger("lam_agents").level == before  # the demo's quiet console is undone afterwards
    out = capsys.readouterr().out
    assert "| pcogalign | ppo | latent | test_id | 2 |" in out and "| pcogalign | ppo | token | test_id | 2 |" in out
    assert "95% CI [" in out and " -> " in out
    study = tmp_path / "learning"
    assert (study / "summary.md").exists() and (study / "curves.png").exists() and (study / "summary.json").exists()
    assert list((tmp_path / "pcogalign").glob("*.png"))
    # A second demo keeps the finished runs (resumable) and prints the same table.
    assert main(argv) == 0
    assert "| pcogalign | ppo | latent | test_id | 2 |" in capsys.readouterr().out


def test_the_quiet_console_silences_library_info_logs_and_restores_them() -> None:
    from lam_agents.commands.demo import _quiet_console

    names = ("lam_agents", "lam_envs", "absl")  # absl: rliable logs each bootstrap estimate at INFO
    before = [logging.getLogger(n).level for n in names]
    with _quiet_console():
        assert all(logging.getLogger(n).getEffectiveLevel() >= logging.WARNING for n in names)
    assert [logging.getLogger(n).level for n in names] == before
