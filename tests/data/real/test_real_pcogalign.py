from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from lam_envs.data.real import DatasetError, load_pcogalign, load_pcogalign_with_report, role_set_text
from lam_envs.data.types import Split, UserProfile

PCOG = Path(__file__).resolve().parents[2] / "fixtures" / "pcogalign"
TRAIN, TEST_ID, TEST_OOD = PCOG / "HCMAS-train.json", PCOG / "HCMAS-test.json", PCOG / "HCSHR-test.json"


def load(split: str, seed: int = 0) -> list:
    return load_pcogalign(TRAIN, TEST_ID, TEST_OOD, PCOG, split=split, seed=seed)


def test_train_file_is_split_50_sft_20_rl_and_the_rest_unused() -> None:
    for seed in range(5):
        sft, rl = load("sft", seed), load("rl", seed)
        assert len(sft) == 5 and len(rl) == 2
        assert not {x.id for x in sft} & {x.id for x in rl}
        assert all(x.split is Split.SFT for x in sft) and all(x.split is Split.RL for x in rl)
    assert [x.id for x in load("sft", 1)] == [x.id for x in load("sft", 1)]
    assert any([x.id for x in load("sft", s)] != [x.id for x in load("sft", 1)] for s in range(2, 8))


def test_test_splits_come_from_the_two_location_sets() -> None:
    test_id, test_ood = load("test_id"), load("test_ood")
    assert [x.id for x in test_id] == ["HCMAS-test-0", "HCMAS-test-1", "HCMAS-test-2"]
    assert [x.id for x in test_ood] == ["HCSHR-test-0", "HCSHR-test-1", "HCSHR-test-2"]
    id_locations = {loc for x in test_id for loc, _ in x.persona.role_set}
    ood_locations = {loc for x in test_ood for loc, _ in x.persona.role_set}
    assert id_locations != ood_locations


def test_record_becomes_one_user_turn_with_the_profile_and_golden_response() -> None:
    sample = load("test_ood")[0]
    record = json.loads(TEST_OOD.read_text(encoding="utf-8"))[0]
    persona = sample.persona
    assert isinstance(persona, UserProfile)
    assert persona.role_set == tuple(record["individual_RoleSet"].items())
    assert persona.roles == record["individual_RoleSet"] and persona.current_role == "Customer"
    assert persona.individual_id == "ind_11" and persona.location == "Restaurant"
    assert persona.situation == record["eval_info"]["ImageDesc"]
    assert persona.expectation == record["eval_info"]["EvalHelp"]
    assert [(t.role, t.speaker, t.text) for t in sample.dialogue] == [("user", "User", record["query"])]
    assert sample.reference == record["golden_response"] and sample.task == "pcogalign"
    assert sample.image.load().size == (32, 32)
    expected = "Partner at Home; Cashier at Store; Nurse at Hospital; Customer at Restaurant"
    assert role_set_text(persona.role_set) == expected


def test_records_with_ids_keep_them_and_missing_individual_falls_back_to_the_role_set(
    tmp_path: Path, image_root: Path
) -> None:
    rec = dict(GOOD, id=42, eval_info={k: v for k, v in GOOD["eval_info"].items() if k != "individual"})
    path = tmp_path / "t.json"
    path.write_text(json.dumps([rec]), encoding="utf-8")
    (sample,) = load_pcogalign(None, None, path, image_root, split="test_ood")
    assert sample.id == "42" and sample.persona.individual_id == "Parent at Home; Volunteer at Community"


def test_a_split_without_its_file_names_the_missing_file() -> None:
    with pytest.raises(ValueError, match=r"'rl' needs the train file"):
        load_pcogalign(None, TEST_ID, TEST_OOD, PCOG, split="rl")
    with pytest.raises(ValueError, match=r"'test_ood' needs the test_ood file \(e.g. HCSHR-test.json"):
        load_pcogalign(TRAIN, TEST_ID, None, PCOG, split="test_ood")


def test_jsonl_files_are_read_like_json_lists(tmp_path: Path) -> None:
    records = json.loads(TEST_ID.read_text(encoding="utf-8"))
    path = tmp_path / "HCMAS-test.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    got = load_pcogalign(None, path, None, PCOG, split="test_id")
    assert [x.reference for x in got] == [x.reference for x in load("test_id")]


# --- bad records: each kind, in raise and skip mode -------------------------------------------------------------

GOOD: dict[str, Any] = {
    "individual_RoleSet": {"Home": "Parent", "Community": "Volunteer"},
    "query": "What should I do?",
    "image": {"file_path": "good.png"},
    "golden_response": "Take one calm step.",
    "eval_info": {
        "sub_set": "HCMAS", "individual": "p1", "location": "Home", "ImageDesc": "A pot.", "EvalHelp": "Calm."
    },
}


def _with(**changes: Any) -> dict[str, Any]:
    rec = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        if value is ...:
            del rec[key]
        else:
            rec[key] = value
    return rec


def _info(**changes: Any) -> dict[str, Any]:
    info = dict(GOOD["eval_info"])
    for key, value in changes.items():
        if value is ...:
            del info[key]
        else:
            info[key] = value
    return info


BAD_RECORDS: list[tuple[str, Any, str]] = [
    ("missing_field", _with(golden_response=...), r"field 'golden_response' is missing"),
    ("missing_field", _with(eval_info=_info(EvalHelp=...)), r"field eval_info.'EvalHelp' is missing"),
    ("missing_field", _with(image={"path": "good.png"}), r"field image.'file_path' is missing"),
    ("wrong_type", _with(individual_RoleSet="Parent at Home; Volunteer at Community"), r"location -> role, got a str"),
    ("wrong_type", _with(individual_RoleSet={"Home": ["Parent"]}), r"individual_RoleSet\['Home'\] must be"),
    ("wrong_type", _with(image="good.png"), r"field 'image' must be a JSON object, got string"),
    ("wrong_type", _with(query=""), r"field 'query' is empty"),
    ("wrong_type", 17, r"the record must be a JSON object, got integer"),
    ("missing_image", _with(image={"file_path": "gone.png"}), r"image 'gone.png' \(field image.file_path\) not found"),
    ("unreadable_image", _with(image={"file_path": "truncated.png"}), r"is not a readable image"),
    ("unreadable_image", _with(image={"file_path": "not_an_image.png"}), r"is not a readable image"),
    ("unreadable_image", _with(image={"file_path": "truncated.jpg"}), r"truncated.jpg \(field image.file_path\) is"),
    ("unreadable_image", _with(image={"file_path": "empty.png"}), r"it is empty \(0 bytes\)"),
    ("unreadable_image", _with(image={"file_path": "folder.png"}), r"it is a directory"),
    ("unreadable_image", _with(image={"file_path": "pipe.png"}), r"it is not a regular file"),
    ("image_too_large", _with(image={"file_path": "bomb.png"}), r"image 'bomb.png' .*decompression bomb"),
    ("image_outside_root", _with(image={"file_path": "../outside.png"}), r"'../outside.png' .* outside the image"),
    ("image_outside_root", _with(image={"file_path": "escape.png"}), r"'escape.png' .* outside the image root"),
    ("duplicate_id", None, r"id 'x' is already used by record #0"),  # built in the test: two records with id "x"
]


def _write(tmp_path: Path, bad: Any) -> Path:
    first, second = (dict(GOOD, id="x"), dict(GOOD, id="x")) if bad is None else (GOOD, bad)
    path = tmp_path / "HCSHR-test.json"
    path.write_text(json.dumps([first, second]), encoding="utf-8")
    return path
BAD_IDS = [f"{kind}-{i}" for i, (kind, _, _) in enumerate(BAD_RECORDS)]


@pytest.mark.parametrize(("kind", "bad", "message"), BAD_RECORDS, ids=BAD_IDS)
def test_bad_record_raises_with_file_record_and_fix(
    tmp_path: Path, image_root: Path, kind: str, bad: Any, message: str
) -> None:
    path = _write(tmp_path, bad)
    with pytest.raises(DatasetError, match=message) as info:
        load_pcogalign(None, None, path, image_root, split="test_ood")
    err = info.value
    assert err.kind == kind and err.file == path and err.record is not None and err.record.startswith("#1")
    assert "Fix: " in str(err)


@pytest.mark.parametrize(("kind", "bad", "message"), BAD_RECORDS, ids=BAD_IDS)
def test_bad_record_is_skipped_counted_and_logged(
    tmp_path: Path, image_root: Path, caplog: pytest.LogCaptureFixture, kind: str, bad: Any, message: str
) -> None:
    path = _write(tmp_path, bad)
    with caplog.at_level(logging.WARNING, logger="lam_envs.data.real"):
        samples, report = load_pcogalign_with_report(None, None, path, image_root, split="test_ood", on_error="skip")
    assert len(samples) == 1 and samples[0].reference == "Take one calm step."
    assert report.records == 2 and report.samples == 1 and report.skipped_by_kind() == {kind: 1}
    assert "1 skipped" in caplog.text and kind in caplog.text


def test_malformed_jsonl_line_raises_or_is_skipped(tmp_path: Path, image_root: Path) -> None:
    path = tmp_path / "HCSHR-test.jsonl"
    path.write_text("{oops\n" + json.dumps(GOOD) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"record #0 \(line 1\): line is not valid JSON"):
        load_pcogalign(None, None, path, image_root, split="test_ood")
    samples, report = load_pcogalign_with_report(None, None, path, image_root, split="test_ood", on_error="skip")
    assert [x.id for x in samples] == ["HCSHR-test-1"] and report.skipped_by_kind() == {"malformed_json": 1}


def test_skips_only_concern_the_requested_split(tmp_path: Path) -> None:
    records = json.loads(TRAIN.read_text(encoding="utf-8"))
    root = tmp_path / "bench"
    shutil.copytree(PCOG / "images", root / "images")
    rl_ids = {x.id for x in load("rl")}
    bad_index = next(i for i in range(len(records)) if f"HCMAS-train-{i}" in rl_ids)
    records[bad_index]["image"]["file_path"] = "images/missing.png"
    path = tmp_path / "HCMAS-train.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    sft = load_pcogalign(path, None, None, root, split="sft")
    assert [x.id for x in sft] == [x.id for x in load("sft")]  # same split: positions, not validity, decide it
    with pytest.raises(DatasetError, match=f"record #{bad_index}"):
        load_pcogalign(path, None, None, root, split="rl")


def test_an_image_outside_the_root_loads_only_when_allowed(tmp_path: Path, image_root: Path) -> None:
    path = _write(tmp_path, _with(image={"file_path": str(image_root.parent / "outside.png")}))
    with pytest.raises(DatasetError, match="outside the image root") as info:
        load_pcogalign(None, None, path, image_root, split="test_ood")
    assert info.value.kind == "image_outside_root" and "allow_outside_root=True" in str(info.value)
    samples = load_pcogalign(None, None, path, image_root, split="test_ood", allow_outside_root=True)
    assert len(samples) == 2 and samples[1].image.load().size == (32, 32)
