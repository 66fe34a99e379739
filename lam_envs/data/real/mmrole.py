"""MMRole (Dai et al., 2024; ``YanqiDai/MMRole_dataset``) loader: dialogue files + character profiles -> samples.

## Layout of the real dataset

```
MMRole_dataset/
  dialogues/in-distribution/comment/<Character>_{COCO,script}.json   one JSON list per character and image source
  dialogues/in-distribution/human-role/...                           multi-turn human <-> character dialogues
  dialogues/out-of-distribution/{comment,human-role}.json            held-out characters
  profiles/{in,out-of}-distribution/detailed_profiles/<Character>.json
  profiles/{in,out-of}-distribution/profiles.json                    name -> profile as Markdown text
  images/COCO/train2017/..., images/<Script>/...                     record ``image`` paths are relative to images/
```

A dialogue record is ``{"id", "image", "conversations": [...]}`` (script records add ``role_info``, ``place_info``,
``scene_info``, which describe the image and are not needed here). A human turn is ``{"from": "human", "value"}``
(``"role": "human"`` in human-role files); a character turn is ``{"role": "<Character Name>", "value"}``. The
formatted variant with ``"from": "gpt"`` turns is accepted when the record names the character in ``"role"``. An
``<image>`` placeholder in a turn is removed. Some real comment records hold only the human prompt: they are valid
and yield no sample (counted as ``unanswered`` in the :class:`~lam_envs.data.real.errors.LoadReport`).
Inter-role dialogues (two characters, no human) have no user side to answer and are rejected as ``bad_dialogue``.

A profile is a JSON object with ``introduction``, ``personality``, ``experience``, ``relationship`` and
``catchphrase`` (the ``detailed_profiles`` files; key variants such as ``life_story`` or ``catchphrases`` are
accepted), or a Markdown text with one heading per part (the ``profiles.json`` values, English or Chinese headings).
Profiles are matched to dialogue speakers by name, ignoring case and ``_`` vs space (``Harry_Potter.json`` is
``"Harry Potter"``). A profile that lacks only a catchphrase loads with an empty one and a logged warning. A
profile that cannot be used (malformed, or lacking a required part) raises in ``on_error="raise"`` mode; in
``"skip"`` mode only the records of that character are skipped (``bad_profile``), the other characters load.

## Samples and splits

One sample per character turn that follows a human turn: the dialogue up to and including that human turn is the
context, the character's turn is the reference. A comment dialogue gives one sample; a human-role dialogue with k
character replies gives k samples, with ids ``<record id>/<k>``. Records are split **before** this expansion, so
the turns of one dialogue never straddle splits: the in-distribution records (all ``dialogues`` files pooled in
sorted path order) are shuffled with ``seed`` and cut 50% SFT / 40% RL / 10% in-distribution test
(:data:`~lam_envs.data.splits.MMROLE_FRACTIONS`); the out-of-distribution test is every record of
``ood_dialogues``. The split depends on the files and the seed only, not on which records are valid; only the
records of the requested split are validated (each image path is checked to stay under ``image_root`` and each file
to decode in full; see :mod:`lam_envs.data.images`).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Sequence

from lam_envs.data.real.errors import DatasetError, ErrorPolicy, LoadReport, OnError
from lam_envs.data.real.records import (
    ImageChecker,
    RawRecord,
    check_unique,
    collect_samples,
    get_field,
    get_record_id,
    get_str,
    read_split_files,
    require_mapping,
    samples_only,
)
from lam_envs.data.splits import MMROLE_FRACTIONS, split_by_fraction
from lam_envs.data.types import CharacterProfile, ImageFile, Sample, Split, Turn

logger = logging.getLogger(__name__)

PathArg = Path | str | Sequence[Path | str]

PROFILE_FIELDS: tuple[str, ...] = ("introduction", "personality", "experience", "relationship", "catchphrase")
# Fields a profile object may leave out: many real characters have no catchphrase, and an empty one misleads nobody.
OPTIONAL_PROFILE_FIELDS: tuple[str, ...] = ("catchphrase",)
# Key variants seen in role-play profile files, normalised (lower case, spaces and dashes as underscores).
_KEY_ALIASES: dict[str, str] = {
    "introduction": "introduction",
    "brief_introduction": "introduction",
    "intro": "introduction",
    "personality": "personality",
    "personality_traits": "personality",
    "experience": "experience",
    "experiences": "experience",
    "life_story": "experience",
    "relationship": "relationship",
    "relationships": "relationship",
    "main_interpersonal_relationships": "relationship",
    "catchphrase": "catchphrase",
    "catchphrases": "catchphrase",
}
# Markdown headings in profiles.json (English and Chinese), matched by substring in this order.
_HEADING_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("introduction", ("introduction", "简介", "介绍")),
    ("personality", ("personality", "性格")),
    ("experience", ("life story", "experience", "经历")),
    ("relationship", ("relationship", "关系")),
    ("catchphrase", ("catchphrase", "quote", "名言", "口头禅")),
)
_HEADING = re.compile(r"^\s*(?:#{1,6}\s*(?P<h>.+?)|\*\*(?P<b>[^*]+?)\*\*)\s*[:：]?\s*$")
_HUMAN_SPEAKERS = frozenset({"human", "user"})
_ANONYMOUS_CHARACTER_SPEAKERS = frozenset({"gpt", "assistant"})
_IMAGE_PLACEHOLDER = re.compile(r"[ \t]*<image>[ \t]*\n?")


def name_key(name: str) -> str:
    """How character names are compared: case-insensitive, ``_`` and runs of spaces as one space."""
    return " ".join(name.replace("_", " ").split()).casefold()


def load_character_profiles(profiles: PathArg) -> dict[str, CharacterProfile]:
    """Read character profiles from the real layouts.

    Args:
        profiles: any mix of (a) a directory of per-character JSON objects (``detailed_profiles``; a directory
            that has a ``detailed_profiles`` subdirectory stands for it), and (b) a JSON file mapping character
            name to a profile object or to Markdown text (``profiles.json``).

    Returns:
        ``name_key(name) -> profile``. Later sources override earlier ones for the same character. A profile that
        lacks only optional fields (:data:`OPTIONAL_PROFILE_FIELDS`) loads with those fields empty and a logged
        warning.

    Raises:
        DatasetError: if a path is missing or a profile is malformed (the first bad profile is raised; loading
            MMRole with ``on_error="skip"`` skips only the records of characters whose profile is bad instead).
    """
    entries = _read_profiles(profiles)
    bad = next((e for e in entries.values() if isinstance(e, DatasetError)), None)
    if bad is not None:
        raise bad
    return {k: e for k, e in entries.items() if isinstance(e, CharacterProfile)}


def _read_profiles(profiles: PathArg) -> dict[str, CharacterProfile | DatasetError]:
    """Every profile, or the error that makes it unusable, by ``name_key``.

    File-level problems (a missing path, an empty directory, a ``profiles.json`` that does not parse or is not a
    mapping) concern no single character and raise; a problem with one character's profile is returned in its
    place, so that the caller decides whether it fails the load or only that character's records.
    """
    items = [profiles] if isinstance(profiles, (str, Path)) else list(profiles)
    out: dict[str, CharacterProfile | DatasetError] = {}
    for item in items:
        path = Path(item)
        if path.is_dir():
            directory = path / "detailed_profiles" if (path / "detailed_profiles").is_dir() else path
            files = sorted(directory.glob("*.json"))
            if not files:
                raise DatasetError(
                    directory, None, "bad_file", "no profile files (*.json) in this directory",
                    "pass a detailed_profiles directory, a directory that contains one, or a profiles.json file",
                )
            for file in files:
                name = file.stem.replace("_", " ")
                try:
                    obj = _load_json(file)
                    if isinstance(obj, dict) and isinstance(obj.get("name"), str) and obj["name"].strip():
                        name = obj["name"]
                    out[name_key(name)] = _profile_from_value(file, name, obj)
                except DatasetError as err:
                    out[name_key(name)] = err
        elif path.is_file():
            mapping = _load_json(path)
            if not isinstance(mapping, dict):
                raise DatasetError(
                    path, None, "bad_file", "a profiles file must map character names to profiles",
                    "pass profiles.json (an object {name: profile}) or a detailed_profiles directory",
                )
            for name, value in mapping.items():
                try:
                    out[name_key(name)] = _profile_from_value(path, name, value)
                except DatasetError as err:
                    out[name_key(name)] = err
        else:
            raise DatasetError(path, None, "bad_file", "profiles path does not exist", "check the --profiles path")
    return out


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(
            path, None, "malformed_json", f"not valid JSON ({exc.msg} at line {exc.lineno})", "repair the file"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(path, None, "bad_file", f"cannot read the file ({exc})", "check the file") from None


def _profile_from_value(file: Path, name: str, value: Any) -> CharacterProfile:
    if isinstance(value, str):
        return _profile_from_markdown(name, value)
    if not isinstance(value, dict):
        raise DatasetError(
            file, f"character {name!r}", "wrong_type",
            f"profile must be an object or a text, got {type(value).__name__}",
            f"give the profile as an object with keys {', '.join(PROFILE_FIELDS)}",
        )
    fields: dict[str, str] = {}
    for key, text in value.items():
        canonical = _KEY_ALIASES.get(re.sub(r"[\s\-]+", "_", str(key).strip().lower()))
        if canonical is None:
            continue
        if isinstance(text, list) and all(isinstance(t, str) for t in text):
            text = "\n".join(text)
        if not isinstance(text, str):
            raise DatasetError(
                file, f"character {name!r}", "wrong_type", f"profile field {key!r} must be a string",
                f"store {key!r} as text",
            )
        fields[canonical] = text.strip()
    missing = [f for f in PROFILE_FIELDS if f not in fields]
    required = [f for f in PROFILE_FIELDS if f not in OPTIONAL_PROFILE_FIELDS]
    if any(f in required for f in missing):
        raise DatasetError(
            file, f"character {name!r}", "missing_field", f"profile lacks {', '.join(missing)}",
            f"add the missing keys (a profile needs {', '.join(required)}; {', '.join(OPTIONAL_PROFILE_FIELDS)} "
            "may be left out)",
        )
    if missing:
        logger.warning(
            "%s, character %r: profile has no %s; loaded with %s empty (add the key to fill it)",
            file, name, ", ".join(missing), "it" if len(missing) == 1 else "them",
        )
    return CharacterProfile(name=name, **{f: fields.get(f, "") for f in PROFILE_FIELDS})


def _profile_from_markdown(name: str, text: str) -> CharacterProfile:
    """Split a Markdown profile into its parts by headings; text under no known heading is ignored."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            heading = (match.group("h") or match.group("b")).casefold()
            current = next((f for f, words in _HEADING_KEYWORDS if any(w in heading for w in words)), None)
            continue
        if current is not None:
            sections.setdefault(current, []).append(line)
    parts = {f: "\n".join(sections.get(f, [])).strip() for f in PROFILE_FIELDS}
    if not any(parts.values()):
        # No recognisable headings: the whole text is the best introduction there is.
        parts["introduction"] = text.strip()
    return CharacterProfile(name=name, **parts)


def load_mmrole_with_report(
    dialogues: PathArg | None,
    profiles: PathArg,
    image_root: Path | str,
    *,
    split: Split | str,
    seed: int = 0,
    ood_dialogues: PathArg | None = None,
    on_error: OnError = "raise",
    allow_outside_root: bool = False,
) -> tuple[list[Sample], LoadReport]:
    """Load one split of MMRole as samples, with an account of what was read and skipped.

    Args:
        dialogues: in-distribution dialogue files or directories (JSON lists or JSONL); needed for the SFT, RL
            and in-distribution test splits.
        profiles: character profiles (see :func:`load_character_profiles`); must cover every character spoken in
            the loaded records (pass both the in- and out-of-distribution profiles when loading the OOD test).
        image_root: the dataset's ``images`` directory; record ``image`` paths are relative to it.
        split: which split to load.
        seed: seed of the record shuffle that assigns in-distribution records to splits.
        ood_dialogues: out-of-distribution dialogue files or directories; needed for ``test_ood``.
        on_error: ``"raise"`` stops at the first bad record or profile; ``"skip"`` leaves bad records out, counts
            them in the report and logs a warning listing them (a bad profile skips only its character's records).
        allow_outside_root: accept record image paths that resolve outside ``image_root`` (absolute paths, ``..``,
            symlinks pointing out); such records are refused (``image_outside_root``) by default.

    Returns:
        The samples (in shuffled record order, turns in dialogue order) and the load report.

    Raises:
        DatasetError: for a bad record or profile in ``"raise"`` mode, and for unreadable files in either mode.
        ValueError: if the files that the split needs were not given, or ``split``/``on_error`` is unknown.
    """
    split = Split.parse(split)
    report = LoadReport(task="mmrole", split=split.value)
    policy = ErrorPolicy(on_error, report)
    if split is Split.TEST_OOD:
        if ood_dialogues is None:
            raise ValueError("split 'test_ood' needs ood_dialogues (e.g. dialogues/out-of-distribution/comment.json)")
        chosen, duplicates = read_split_files(ood_dialogues, "MMRole dialogue", report, policy)
    else:
        if dialogues is None:
            raise ValueError(f"split {split.value!r} needs dialogues (e.g. dialogues/in-distribution/comment/)")
        records, duplicates = read_split_files(dialogues, "MMRole dialogue", report, policy)
        chosen = split_by_fraction(records, MMROLE_FRACTIONS, seed)[split]
    if on_error == "raise":
        profile_map: dict[str, CharacterProfile | DatasetError] = dict(load_character_profiles(profiles))
    else:
        profile_map = _read_profiles(profiles)
        for err in (e for e in profile_map.values() if isinstance(e, DatasetError)):
            logger.warning("%s; the records of this character will be skipped", err)
    images = ImageChecker(Path(image_root), allow_outside_root=allow_outside_root)
    samples = collect_samples(
        chosen, lambda rec: _record_samples(rec, profile_map, images, split, duplicates), report, policy, logger
    )
    return samples, report


load_mmrole = samples_only(load_mmrole_with_report, "load_mmrole", "Load one split of MMRole as samples.")


def _record_samples(
    rec: RawRecord,
    profiles: dict[str, CharacterProfile | DatasetError],
    images: ImageChecker,
    split: Split,
    duplicates: dict[tuple[Path, int], RawRecord],
) -> list[Sample]:
    obj = require_mapping(rec, rec.value, "the record")
    rid = get_record_id(rec, obj)
    check_unique(rec, rid, duplicates, "give every dialogue a unique id")
    image_rel = get_str(rec, obj, "image")
    turns, character = _parse_turns(rec, obj)
    if character is None:
        images.check(rec, image_rel, "image")
        return []  # a prompt without a reply: valid, nothing to answer against
    profile = profiles.get(name_key(character))
    if isinstance(profile, DatasetError):
        where = f"{profile.file}" if profile.record is None else f"{profile.file}, {profile.record}"
        raise rec.error(
            "bad_profile", f"the profile of character {character!r} is unusable ({where}: {profile.problem})",
            profile.fix,
        )
    if profile is None:
        known = ", ".join(sorted(p.name for p in profiles.values() if isinstance(p, CharacterProfile))[:8]) or "none"
        raise rec.error(
            "unknown_character", f"no profile for character {character!r} (profiles loaded: {known}"
            f"{', ...' if len(profiles) > 8 else ''})",
            f"add a profile for {character!r} (e.g. detailed_profiles/{character.replace(' ', '_')}.json) "
            "or pass the profiles that cover it (out-of-distribution characters have their own profiles)",
        )
    image = ImageFile(images.check(rec, image_rel, "image"))
    samples: list[Sample] = []
    for i, turn in enumerate(turns):
        if turn.role == "assistant" and i > 0 and turns[i - 1].role == "user":
            samples.append(
                Sample(
                    id=f"{rid}/{len(samples)}",
                    task="mmrole",
                    image=image,
                    dialogue=tuple(turns[:i]),
                    persona=profile,
                    reference=turn.text,
                    split=split,
                )
            )
    return samples


def _parse_turns(rec: RawRecord, obj: dict[str, Any]) -> tuple[list[Turn], str | None]:
    """The record's turns, and the character who speaks them (``None`` when only the human speaks)."""
    conversations = get_field(rec, obj, "conversations")
    if not isinstance(conversations, list) or not conversations:
        raise rec.error(
            "wrong_type", "field 'conversations' must be a non-empty list of turns",
            "give the turns as [{\"from\": \"human\", \"value\": ...}, {\"role\": \"<Character>\", \"value\": ...}]",
        )
    raw: list[tuple[bool, str, str]] = []  # (is_human, speaker, text)
    for j, turn in enumerate(conversations):
        where = f"conversations[{j}]."
        turn = require_mapping(rec, turn, f"conversations[{j}]")
        key = "from" if "from" in turn else "role"
        speaker = get_str(rec, turn, key, where) if key in turn else None
        if speaker is None:
            raise rec.error(
                "missing_field", f"turn {where[:-1]} names no speaker (no 'from' or 'role')",
                "add \"from\": \"human\" to human turns and \"role\": \"<Character>\" to character turns",
            )
        text = _IMAGE_PLACEHOLDER.sub("", get_str(rec, turn, "value", where)).strip()
        if not text:
            raise rec.error("bad_dialogue", f"turn {where[:-1]} holds only an <image> placeholder", "add the text")
        is_human = speaker.strip().casefold() in _HUMAN_SPEAKERS
        if not is_human and speaker.strip().casefold() in _ANONYMOUS_CHARACTER_SPEAKERS:
            named = obj.get("role")
            if not isinstance(named, str) or not named.strip():
                raise rec.error(
                    "bad_dialogue", f"turn {where[:-1]} is spoken by {speaker!r} but the record names no character",
                    "add \"role\": \"<Character>\" to the record, or name the character in the turn's 'role'",
                )
            speaker = named
        raw.append((is_human, speaker.strip(), text))
    characters = sorted({s for is_human, s, _ in raw if not is_human})
    if len(characters) > 1:
        raise rec.error(
            "bad_dialogue", f"turns by several characters ({', '.join(characters)}): an inter-role dialogue has no "
            "human side for the agent to answer",
            "load comment or human-role dialogues only",
        )
    if characters and not any(is_human for is_human, _, _ in raw):
        raise rec.error("bad_dialogue", "no human turn to answer", "start the dialogue with a human turn")
    character = characters[0] if characters else None
    turns = [
        Turn(role="user", speaker="Human", text=t) if is_human else Turn(role="assistant", speaker=s, text=t)
        for is_human, s, t in raw
    ]
    return turns, character
