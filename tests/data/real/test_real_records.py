from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from lam_envs.data.real.errors import DatasetError, ErrorPolicy, LoadReport
from lam_envs.data.real.records import expand_paths, read_records


def test_a_directory_stands_for_its_data_files_in_sorted_order(tmp_path: Path) -> None:
    for name in ("b/z.json", "a.jsonl", "b/a.json", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("[]", encoding="utf-8")
    files = expand_paths(tmp_path, "test")
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.jsonl", "b/a.json", "b/z.json"]
    given = [tmp_path / "b/z.json", tmp_path / "a.jsonl"]
    assert expand_paths(given, "test") == given


def test_missing_paths_and_empty_directories_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="MMRole dialogue file or directory does not exist"):
        expand_paths(tmp_path / "nope", "MMRole dialogue")
    with pytest.raises(DatasetError, match=r"no test files \(\*.json, \*.jsonl\) in this directory"):
        expand_paths(tmp_path, "test")


def test_a_json_file_must_hold_a_list_of_records(tmp_path: Path) -> None:
    policy = ErrorPolicy("skip", LoadReport("mmrole", "sft"))
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"id": 1}), encoding="utf-8")
    with pytest.raises(DatasetError, match="top level is a JSON dict, not a list of records"):
        read_records(path, policy)
    path.write_text(json.dumps([{"id": 1}, {"id": "b"}]), encoding="utf-8")
    records = read_records(path, policy)
    assert [r.label for r in records] == ["#0 (id '1')", "#1 (id 'b')"]


def test_policy_rejects_unknown_modes_and_logs_every_skipped_reason(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match=r"on_error must be one of \('raise', 'skip'\), got 'warn'"):
        ErrorPolicy("warn", LoadReport("mmrole", "sft"))  # type: ignore[arg-type]
    report = LoadReport("pcogalign", "rl", records=3, samples=1)
    policy = ErrorPolicy("skip", report)
    policy.handle(DatasetError(Path("f.json"), "#0", "missing_image", "image gone", "add it"))
    policy.handle(DatasetError(Path("f.json"), "#2", "wrong_type", "query is a list", "make it text"))
    with caplog.at_level(logging.WARNING):
        policy.finish(logging.getLogger("test"))
    assert report.skipped_by_kind() == {"missing_image": 1, "wrong_type": 1}
    assert "3 records -> 1 samples (0 without a reply, 2 skipped)" in caplog.text
    assert "f.json, record #0: image gone. Fix: add it" in caplog.text and "record #2: query is a list" in caplog.text
    with pytest.raises(DatasetError, match="image gone"):
        ErrorPolicy("raise", LoadReport("x", "y")).handle(
            DatasetError(Path("f.json"), "#0", "missing_image", "image gone", "add it")
        )
