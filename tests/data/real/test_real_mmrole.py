from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Literal

import pytest

from lam_envs.data.real import DatasetError, load_character_profiles, load_mmrole, load_mmrole_with_report
from lam_envs.data.types import CharacterProfile, ImageFile, Split

MMROLE = Path(__file__).resolve().parents[2] / "fixtures" / "mmrole"
ID_DIALOGUES = MMROLE / "dialogues/in-distribution"
OOD_DIALOGUES = MMROLE / "dialogues/out-of-distribution/comment.json"
PROFILES = [MMROLE / "profiles/in-distribution", MMROLE / "profiles/out-of-distribution/profiles.json"]
IMAGES = MMROLE / "images"
N_ID_RECORDS = 10  # 5 + 4 comment records, 1 human-role record


def load(split: str, seed: int = 0) -> list:
    return load_mmrole(ID_DIALOGUES, PROFILES, IMAGES, split=split, seed=seed, ood_dialogues=OOD_DIALOGUES)


def record_of(sample_id: str) -> str:
    return sample_id.rsplit("/", 1)[0]


def test_in_distribution_records_are_split_50_40_10_and_every_record_lands_once() -> None:
    reports = {
        s: load_mmrole_with_report(ID_DIALOGUES, PROFILES, IMAGES, split=s, seed=0)[1]
        for s in ("sft", "rl", "test_id")
    }
    assert [reports[s].records for s in ("sft", "rl", "test_id")] == [5, 4, 1]
    records = [record_of(x.id) for s in ("sft", "rl", "test_id") for x in load(s)]
    unanswered = sum(r.unanswered for r in reports.values())
    assert len(set(records)) + unanswered == N_ID_RECORDS


def test_turns_of_one_dialogue_never_straddle_splits() -> None:
    for seed in range(6):
        owner: dict[str, str] = {}
        for split in ("sft", "rl", "test_id"):
            for sample in load(split, seed):
                assert owner.setdefault(record_of(sample.id), split) == split
                assert sample.split is Split(split)


def test_split_depends_on_seed_only() -> None:
    assert [x.id for x in load("rl", 3)] == [x.id for x in load("rl", 3)]
    assert any([x.id for x in load("rl", s)] != [x.id for x in load("rl", 3)] for s in range(4, 10))


def test_each_reply_after_a_human_turn_is_one_sample_with_the_dialogue_so_far() -> None:
    samples = [x for s in ("sft", "rl", "test_id") for x in load(s)]
    hr = sorted((x for x in samples if x.id.startswith("Mirelle_Vance_human-role")), key=lambda x: x.id)
    assert [x.id[-1] for x in hr] == ["0", "1", "2"]
    assert [len(x.dialogue) for x in hr] == [1, 3, 5]
    assert hr[2].query == "What would Tobias say?"
    assert hr[2].reference.startswith("He'd grumble about omens")
    assert hr[2].dialogue[1].role == "assistant" and hr[2].dialogue[1].speaker == "Mirelle Vance"
    assert hr[1].reference == hr[2].dialogue[3].text
    for x in samples:
        assert x.task == "mmrole" and x.scene is None and isinstance(x.image, ImageFile)
        assert x.dialogue[-1].role == "user" and x.dialogue[-1].speaker == "Human"
        assert x.image.load().size == (32, 32)


def test_image_placeholder_is_stripped_and_prompt_only_records_are_counted() -> None:
    samples = [x for s in ("sft", "rl", "test_id") for x in load(s)]
    first = next(x for x in samples if x.id == "Mirelle_Vance_comment_COCO_0/0")
    assert first.query == "What comes to your mind when you look at this image?"
    assert not any("<image>" in t.text for x in samples for t in x.dialogue)
    assert all(record_of(x.id) != "Mirelle_Vance_comment_COCO_2" for x in samples)
    total_unanswered = sum(
        load_mmrole_with_report(ID_DIALOGUES, PROFILES, IMAGES, split=s)[1].unanswered for s in ("sft", "rl", "test_id")
    )
    assert total_unanswered == 1


def test_ood_split_comes_from_its_own_file_with_markdown_profiles() -> None:
    samples = load("test_ood")
    assert [x.id for x in samples] == ["Wren_Calloway_comment_COCO/0", "Wren_Calloway_comment_script/0"]
    wren = samples[0].persona
    assert isinstance(wren, CharacterProfile) and wren.name == "Wren Calloway"
    assert wren.introduction.startswith("Wren Calloway keeps the lighthouse")
    assert "Dry humour" in wren.personality and "took over the light" in wren.experience
    assert "Grandfather Amos" in wren.relationship and "The light stays on." in wren.catchphrase
    in_dist = {x.persona.name for s in ("sft", "rl", "test_id") for x in load(s)}
    assert in_dist == {"Mirelle Vance", "Otto Brandt"}


def test_detailed_profiles_are_matched_by_name_with_underscores() -> None:
    profiles = load_character_profiles(MMROLE / "profiles/in-distribution")
    assert set(profiles) == {"mirelle vance", "otto brandt"}
    assert profiles["otto brandt"].catchphrase.startswith('"Look closer')
    same = load_character_profiles(MMROLE / "profiles/in-distribution/detailed_profiles")
    assert same == profiles


def test_profile_key_variants_and_chinese_markdown_headings(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    path.write_text(
        json.dumps(
            {
                "Ada": {
                    "Brief Introduction": "intro",
                    "Personality": "bold",
                    "life_story": "story",
                    "relationships": "friends",
                    "catchphrases": ["one", "two"],
                },
                "悟空": (
                    "### 简要介绍\n石猴。\n### 性格特点\n勇敢。\n### 人物经历\n大闹天宫。\n"
                    "### 人际关系\n师父。\n### 名言\n俺老孙在！"
                ),
                "Plain": "Just a paragraph without headings.",
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    profiles = load_character_profiles(path)
    assert profiles["ada"] == CharacterProfile("Ada", "intro", "bold", "story", "friends", "one\ntwo")
    assert profiles["悟空"] == CharacterProfile("悟空", "石猴。", "勇敢。", "大闹天宫。", "师父。", "俺老孙在！")
    assert profiles["plain"].introduction == "Just a paragraph without headings."
    assert profiles["plain"].personality == ""


def test_a_broken_profile_always_raises(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"Ada": {"introduction": "x", "personality": "y"}}), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"character 'Ada'.*lacks experience, relationship, catchphrase"):
        load_character_profiles(path)
    with pytest.raises(DatasetError, match="profiles path does not exist"):
        load_character_profiles(tmp_path / "nope")


def test_missing_files_for_a_split_name_the_argument() -> None:
    with pytest.raises(ValueError, match="needs ood_dialogues"):
        load_mmrole(ID_DIALOGUES, PROFILES, IMAGES, split="test_ood")
    with pytest.raises(ValueError, match="needs dialogues"):
        load_mmrole(None, PROFILES, IMAGES, split="sft", ood_dialogues=OOD_DIALOGUES)
    with pytest.raises(ValueError, match="unknown split 'train'"):
        load_mmrole(ID_DIALOGUES, PROFILES, IMAGES, split="train")
    with pytest.raises(ValueError, match="on_error must be one of"):
        load_mmrole(ID_DIALOGUES, PROFILES, IMAGES, split="sft", on_error="ignore")  # type: ignore[arg-type]


# --- bad records: each kind, in raise and skip mode -------------------------------------------------------------

GOOD: dict[str, Any] = {
    "id": "good",
    "image": "good.png",
    "conversations": [
        {"from": "human", "value": "<image>\nWhat do you see?"},
        {"role": "Mirelle Vance", "value": "Sailing weather."},
    ],
}


def _with(**changes: Any) -> dict[str, Any]:
    rec = json.loads(json.dumps(GOOD))
    rec["id"] = "bad"
    for key, value in changes.items():
        if value is ...:
            del rec[key]
        else:
            rec[key] = value
    return rec


BAD_RECORDS: list[tuple[str, Any, str]] = [
    ("missing_field", _with(image=...), r"field 'image' is missing"),
    ("missing_field", _with(conversations=[{"value": "hi"}]), r"names no speaker"),
    ("wrong_type", _with(conversations="hello"), r"'conversations' must be a non-empty list"),
    ("wrong_type", _with(image=7), r"field 'image' must be a string, got integer"),
    ("wrong_type", ["not", "an", "object"], r"the record must be a JSON object, got list"),
    ("missing_image", _with(image="nowhere/missing.png"), r"image 'nowhere/missing.png' .* not found"),
    ("unreadable_image", _with(image="truncated.png"), r"is not a readable image"),
    ("unreadable_image", _with(image="not_an_image.png"), r"is not a readable image"),
    ("unreadable_image", _with(image="truncated.jpg"), r"truncated.jpg \(field image\) is not a readable image: it does"),
    ("unreadable_image", _with(image="empty.png"), r"is not a readable image: it is empty \(0 bytes\)"),
    ("unreadable_image", _with(image="folder.png"), r"is not a readable image: it is a directory"),
    ("unreadable_image", _with(image="pipe.png"), r"is not a readable image: it is not a regular file"),
    ("image_too_large", _with(image="bomb.png"), r"image 'bomb.png' \(field image\): .* decompression bomb"),
    ("image_outside_root", _with(image="../outside.png"), r"image '../outside.png' \(field image\): .* outside"),
    ("image_outside_root", _with(image="escape.png"), r"image 'escape.png' \(field image\): .* outside the image"),
    (
        "unknown_character",
        _with(conversations=[{"from": "human", "value": "hi"}, {"role": "Nobody Known", "value": "hello"}]),
        r"no profile for character 'Nobody Known'",
    ),
    (
        "bad_dialogue",
        _with(conversations=[{"role": "Mirelle Vance", "value": "a"}, {"role": "Otto Brandt", "value": "b"}]),
        r"several characters \(Mirelle Vance, Otto Brandt\)",
    ),
    (
        "bad_dialogue",
        _with(conversations=[{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]),
        r"record names no character",
    ),
    ("duplicate_id", dict(GOOD, image="good2.png"), r"id 'good' is already used by record #0"),
]
BAD_IDS = [f"{kind}-{i}" for i, (kind, _, _) in enumerate(BAD_RECORDS)]


@pytest.mark.parametrize(("kind", "bad", "message"), BAD_RECORDS, ids=BAD_IDS)
def test_bad_record_raises_with_file_record_and_fix(
    tmp_path: Path, image_root: Path, kind: str, bad: Any, message: str
) -> None:
    path = tmp_path / "dialogues.json"
    path.write_text(json.dumps([GOOD, bad]), encoding="utf-8")
    with pytest.raises(DatasetError, match=message) as info:
        load_mmrole(None, PROFILES, image_root, split="test_ood", ood_dialogues=path)
    err = info.value
    assert err.kind == kind and err.file == path and err.record is not None and err.record.startswith("#1")
    assert str(path) in str(err) and "Fix: " in str(err)


@pytest.mark.parametrize(("kind", "bad", "message"), BAD_RECORDS, ids=BAD_IDS)
def test_bad_record_is_skipped_counted_and_logged(
    tmp_path: Path, image_root: Path, caplog: pytest.LogCaptureFixture, kind: str, bad: Any, message: str
) -> None:
    path = tmp_path / "dialogues.json"
    path.write_text(json.dumps([GOOD, bad]), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="lam_envs.data.real"):
        samples, report = load_mmrole_with_report(
            None, PROFILES, image_root, split="test_ood", ood_dialogues=path, on_error="skip"
        )
    assert [x.id for x in samples] == ["good/0"] and samples[0].query == "What do you see?"
    assert report.records == 2 and report.samples == 1 and report.n_skipped == 1
    assert report.skipped_by_kind() == {kind: 1} and report.skipped[0].record.startswith("#1")
    assert "1 skipped" in caplog.text and str(path) in caplog.text


def test_malformed_jsonl_line_raises_or_is_skipped(tmp_path: Path, image_root: Path) -> None:
    path = tmp_path / "dialogues.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n{not json\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"record #1 \(line 3\): line is not valid JSON") as info:
        load_mmrole(None, PROFILES, image_root, split="test_ood", ood_dialogues=path)
    assert info.value.kind == "malformed_json"
    samples, report = load_mmrole_with_report(
        None, PROFILES, image_root, split="test_ood", ood_dialogues=path, on_error="skip"
    )
    assert [x.id for x in samples] == ["good/0"] and report.skipped_by_kind() == {"malformed_json": 1}


@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_a_json_file_that_does_not_parse_raises_in_both_modes(
    tmp_path: Path, image_root: Path, on_error: Literal["raise", "skip"]
) -> None:
    path = tmp_path / "dialogues.json"
    path.write_text('[{"id": "a",', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"not valid JSON .* line 1") as info:
        load_mmrole(None, PROFILES, image_root, split="test_ood", ood_dialogues=path, on_error=on_error)
    assert info.value.kind == "malformed_json" and info.value.record is None


def test_an_image_outside_the_root_loads_only_when_allowed(tmp_path: Path, image_root: Path) -> None:
    outside = str(image_root.parent / "outside.png")  # an absolute path, as a record might hold
    path = tmp_path / "dialogues.json"
    path.write_text(json.dumps([_with(image=outside)]), encoding="utf-8")
    with pytest.raises(DatasetError, match="outside the image root") as info:
        load_mmrole(None, PROFILES, image_root, split="test_ood", ood_dialogues=path)
    assert info.value.kind == "image_outside_root" and "allow_outside_root=True" in str(info.value)
    (sample,) = load_mmrole(
        None, PROFILES, image_root, split="test_ood", ood_dialogues=path, allow_outside_root=True
    )
    assert sample.image.load().size == (32, 32)


# --- profiles: optional fields, and bad profiles in skip mode ---------------------------------------------------


def _profile_dir(tmp_path: Path, otto: str) -> Path:
    """The fixture's detailed profiles, with Otto Brandt's file replaced by ``otto``."""
    directory = tmp_path / "detailed_profiles"
    directory.mkdir()
    for file in (MMROLE / "profiles/in-distribution/detailed_profiles").glob("*.json"):
        (directory / file.name).write_bytes(file.read_bytes())
    (directory / "Otto_Brandt.json").write_text(otto, encoding="utf-8")
    return directory


def test_a_profile_without_a_catchphrase_loads_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    otto = json.loads((MMROLE / "profiles/in-distribution/detailed_profiles/Otto_Brandt.json").read_text("utf-8"))
    del otto["catchphrase"]
    directory = _profile_dir(tmp_path, json.dumps(otto))
    with caplog.at_level(logging.WARNING, logger="lam_envs.data.real"):
        profiles = load_character_profiles(directory)
    assert profiles["otto brandt"].catchphrase == "" and profiles["otto brandt"].personality
    assert "Otto_Brandt.json, character 'Otto Brandt': profile has no catchphrase" in caplog.text
    assert profiles["mirelle vance"].catchphrase  # the others are untouched


@pytest.mark.parametrize(
    ("otto", "message"),
    [
        ('{"introduction": "x"}', r"lacks personality, experience, relationship, catchphrase"),
        ('{"introduction": ', r"not valid JSON"),
        ('{"introduction": "x", "personality": 3}', r"profile field 'personality' must be a string"),
    ],
    ids=["missing-required-fields", "malformed-json", "wrong-type"],
)
def test_a_bad_profile_skips_only_its_characters_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, otto: str, message: str
) -> None:
    profiles = [_profile_dir(tmp_path, otto), MMROLE / "profiles/out-of-distribution/profiles.json"]
    with pytest.raises(DatasetError, match=message):
        load_mmrole(ID_DIALOGUES, profiles, IMAGES, split="sft")
    good = {s: load(s) for s in ("sft", "rl", "test_id")}
    for split in ("sft", "rl", "test_id"):
        with caplog.at_level(logging.WARNING, logger="lam_envs.data.real"):
            samples, report = load_mmrole_with_report(ID_DIALOGUES, profiles, IMAGES, split=split, on_error="skip")
        kept = [x.id for x in good[split] if x.persona.name != "Otto Brandt"]
        assert [x.id for x in samples] == kept  # Mirelle Vance's records all load
        n_otto = len({record_of(x.id) for x in good[split] if x.persona.name == "Otto Brandt"})
        assert report.skipped_by_kind() == ({"bad_profile": n_otto} if n_otto else {})
        for skipped in report.skipped:
            assert "the profile of character 'Otto Brandt' is unusable" in skipped.reason
            assert "Otto_Brandt.json" in skipped.reason and re.search(message, skipped.reason)
    assert "the records of this character will be skipped" in caplog.text
