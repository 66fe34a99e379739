from __future__ import annotations

from pathlib import Path

import pytest

from lam_agents.cli import main


@pytest.mark.slow
def test_demo_trains_both_action_spaces_and_prints_the_comparison(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--steps", "128", "--seeds", "0", "--tasks", "pcogalign", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| pcogalign | ppo | latent |" in out and "| pcogalign | ppo | token |" in out
    assert (tmp_path / "compare" / "results.md").exists() and (tmp_path / "compare" / "curves.png").exists()
    assert list((tmp_path / "pcogalign").glob("*.png"))
