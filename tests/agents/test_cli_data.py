from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import pytest
from PIL import Image

from lam_agents import cli
from lam_agents.commands import data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MM = FIXTURES / "mmrole"
PC = FIXTURES / "pcogalign"
MMROLE_REAL = [
    "--source", "real",
    "--dialogues", str(MM / "dialogues/in-distribution"),
    "--ood-dialogues", str(MM / "dialogues/out-of-distribution/comment.json"),
    "--profiles", str(MM / "profiles/in-distribution"), str(MM / "profiles/out-of-distribution/profiles.json"),
    "--image-root", str(MM / "images"),
]  # fmt: skip


@pytest.fixture()
def main(monkeypatch: pytest.MonkeyPatch):
    """``lam`` with only the ``data`` command registered, so these tests do not depend on the other commands."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("data",))
    return cli.main


def test_show_real_mmrole_prints_samples_and_saves_pngs(main, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["data", "show", "--task", "mmrole", "--split", "rl", "--n", "2", "--out", str(tmp_path), *MMROLE_REAL])
    out = capsys.readouterr().out
    assert rc == 0
    assert "== mmrole / rl (real): 2 of 6 samples" in out and "4 records -> 6 samples" in out
    assert "[1] Otto_Brandt_comment_COCO_0/0" in out and "persona: Otto Brandt - Professor Otto Brandt" in out
    assert "Human: What are your thoughts when you see this image?" in out and "reference: A green square" in out
    pngs = sorted(tmp_path.glob("*.png"))
    assert [p.name for p in pngs] == [
        "01_Otto_Brandt_comment_COCO_0_0.png",
        "02_Mirelle_Vance_human-role-dialogue_COCO_0_0.png",
    ]
    with Image.open(pngs[0]) as img:
        assert img.format == "PNG" and img.size == (32, 32)
    assert f"image: {pngs[0]}" in out


def test_show_real_pcogalign_ood_shows_what_there_is(main, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["data", "show", "--task", "pcogalign", "--split", "test_ood", "--n", "5", "--out", str(tmp_path),
            "--source", "real", "--test-ood", str(PC / "HCSHR-test.json"), "--image-root", str(PC)]  # fmt: skip
    assert main(argv) == 0
    out = " ".join(capsys.readouterr().out.split())  # text is wrapped at 100 columns
    assert "3 of 3 samples" in out and "[3] HCSHR-test-2" in out
    assert "ind_11: Partner at Home; Cashier at Store; Nurse at Hospital; Customer at Restaurant;" in out
    assert "now at Restaurant" in out
    assert "(as Customer); situation: An orange plate of food has gone cold on a table." in out
    assert "User: My food is cold, should I say something?" in out
    assert len(list(tmp_path.glob("*.png"))) == 3


def test_images_go_to_lam_data_show_task_by_default(
    main, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["data", "show", "--task", "mmrole", "--split", "test_ood", *MMROLE_REAL]) == 0
    assert sorted(p.name for p in (tmp_path / "lam_data_show" / "mmrole").iterdir()) == [
        "01_Wren_Calloway_comment_COCO_0.png",
        "02_Wren_Calloway_comment_script_0.png",
    ]


def test_skipped_records_are_reported(main, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = json.loads((PC / "HCSHR-test.json").read_text(encoding="utf-8"))
    records[1]["image"]["file_path"] = "images/missing.png"
    path = tmp_path / "HCSHR-test.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    argv = ["data", "show", "--task", "pcogalign", "--split", "test_ood", "--out", str(tmp_path / "out"),
            "--source", "real", "--test-ood", str(path), "--image-root", str(PC)]  # fmt: skip
    assert main(argv) == 1
    assert "record #1" in capsys.readouterr().err
    assert main([*argv, "--on-error", "skip"]) == 0
    out = capsys.readouterr().out
    assert "3 records -> 2 samples (0 without a reply, 1 skipped); skipped by kind: missing_image: 1" in out


def test_usage_and_load_errors_give_a_message_and_an_exit_code(
    main, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["data", "show", "--task", "mmrole", "--source", "real"]) == 2
    assert "--source real needs --image-root" in capsys.readouterr().err
    assert main(["data", "show", "--task", "mmrole", "--source", "real", "--image-root", str(MM / "images")]) == 2
    assert "needs --profiles" in capsys.readouterr().err
    argv = ["data", "show", "--task", "pcogalign", "--split", "sft", "--source", "real", "--image-root", str(PC),
            "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 1
    assert "could not load pcogalign/sft: split 'sft' needs the train file" in capsys.readouterr().err
    assert main(["data", "show", "--task", "mmrole", "--n", "0"]) == 2
    with pytest.raises(SystemExit):
        main(["data", "show", "--task", "chess"])


def test_run_accepts_the_namespace_that_demo_builds(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # demo passes only task, n, split, seed, out and source; real-only options must default.
    args = argparse.Namespace(task="pcogalign", n=2, split="rl", seed=0, out=tmp_path, source="real")
    assert data.run(args) == 2
    assert "--image-root" in capsys.readouterr().err


def test_synthetic_source(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    synthetic = importlib.import_module("lam_envs.data.synthetic")
    if not hasattr(synthetic, "synthetic_samples"):
        pytest.skip("lam_envs.data.synthetic.synthetic_samples has not landed yet")
    args = argparse.Namespace(task="mmrole", n=2, split="rl", seed=0, out=tmp_path, source="synthetic")
    assert data.run(args) == 0
    assert "== mmrole / rl (synthetic): 2 of" in capsys.readouterr().out
    assert len(list(tmp_path.glob("*.png"))) == 2


def test_full_command_line_dispatches_to_data_show(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for name in cli.COMMAND_MODULES:
        try:
            importlib.import_module(f"lam_agents.commands.{name}")
        except ModuleNotFoundError:
            pytest.skip(f"lam_agents.commands.{name} has not landed yet")
    argv = ["data", "show", "--task", "mmrole", "--split", "test_ood", "--out", str(tmp_path), *MMROLE_REAL]
    assert cli.main(argv) == 0
    assert "Wren_Calloway_comment_COCO/0" in capsys.readouterr().out
