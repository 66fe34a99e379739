"""PCogAlignBench (Li et al., 2025; ``YongqiLi/PCogAlignBench``) loader: benchmark files -> samples.

## Layout of the real benchmark

```
PCogAlignBench/version_v4/
  HCMAS-train.json  HCMAS-test.json     one location set ("HCMAS")
  HCSHR-train.json  HCSHR-test.json     the other location set ("HCSHR")
  <image files>                         record image paths are relative to version_v4/
```

Each file is a JSON list of records::

    {
      "individual_RoleSet": {"Home": "Parent", "Community": "Volunteer", ...},   # location -> role
      "query": "...",
      "image": {"file_path": "..."},
      "golden_response": "...",
      "eval_info": {"sub_set": "HCMAS", "individual": "...", "location": "Home",
                    "ImageDesc": "...", "EvalHelp": "..."}
    }

``individual_RoleSet`` is a JSON object mapping each location to the person's role there (the benchmark's own
code formats it as ``"Parent at Home; Volunteer at Community"``); only that object form is accepted.
``eval_info.ImageDesc`` describes the image (the profile's ``situation``), ``eval_info.location`` is where the
scene takes place, and ``eval_info.EvalHelp`` says what this person expects from the answer (``expectation``).
``eval_info.individual`` identifies the person when it is a string or an integer; otherwise the identity is the
role set itself (two records with the same role set are the same person). A record may carry an ``id``; without
one the sample id is ``<file stem>-<index>``.

## Samples and splits

One record is one sample: the user's query is the only turn, the ``golden_response`` is the reference. Following
the paper, the ``train`` file is shuffled with ``seed`` and cut 50% SFT / 20% RL (the other 30% is unused;
:data:`~lam_envs.data.splits.PCOGALIGN_FRACTIONS`); ``test_id`` is the test file of the training location set
and ``test_ood`` the test file of the other location set. Only the records of the requested split are validated
(each image path is checked to stay under ``image_root`` and each file to decode in full; see
:mod:`lam_envs.data.images`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lam_envs.data.real.errors import ErrorPolicy, LoadReport, OnError
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
from lam_envs.data.splits import PCOGALIGN_FRACTIONS, split_by_fraction
from lam_envs.data.types import ImageFile, Sample, Split, Turn, UserProfile

logger = logging.getLogger(__name__)


def load_pcogalign_with_report(
    train: Path | str | None,
    test_id: Path | str | None,
    test_ood: Path | str | None,
    image_root: Path | str,
    *,
    split: Split | str,
    seed: int = 0,
    on_error: OnError = "raise",
    allow_outside_root: bool = False,
) -> tuple[list[Sample], LoadReport]:
    """Load one split of PCogAlignBench as samples, with an account of what was read and skipped.

    Args:
        train: training file of one location set (e.g. ``HCMAS-train.json``); needed for ``sft`` and ``rl``.
        test_id: test file of the same location set (e.g. ``HCMAS-test.json``); needed for ``test_id``.
        test_ood: test file of the other location set (e.g. ``HCSHR-test.json``); needed for ``test_ood``.
        image_root: directory that ``image.file_path`` is relative to (``version_v4``).
        split: which split to load.
        seed: seed of the shuffle that assigns training records to SFT and RL.
        on_error: ``"raise"`` stops at the first bad record; ``"skip"`` leaves bad records out, counts them in the
            report and logs a warning listing them.
        allow_outside_root: accept ``image.file_path`` values that resolve outside ``image_root`` (absolute paths,
            ``..``, symlinks pointing out); such records are refused (``image_outside_root``) by default.

    Returns:
        The samples and the load report.

    Raises:
        DatasetError: for a bad record in ``"raise"`` mode, and for unreadable files in either mode.
        ValueError: if the file the split needs was not given, or ``split``/``on_error`` is unknown.
    """
    split = Split.parse(split)
    report = LoadReport(task="pcogalign", split=split.value)
    policy = ErrorPolicy(on_error, report)
    source = {Split.SFT: train, Split.RL: train, Split.TEST_ID: test_id, Split.TEST_OOD: test_ood}[split]
    if source is None:
        option, example = {
            Split.SFT: ("train", "HCMAS-train.json"),
            Split.RL: ("train", "HCMAS-train.json"),
            Split.TEST_ID: ("test_id", "HCMAS-test.json, the test file of the training location set"),
            Split.TEST_OOD: ("test_ood", "HCSHR-test.json, the test file of the other location set"),
        }[split]
        raise ValueError(f"split {split.value!r} needs the {option} file (e.g. {example}); it was not given")
    records, duplicates = read_split_files(source, "PCogAlignBench", report, policy)
    chosen = split_by_fraction(records, PCOGALIGN_FRACTIONS, seed)[split] if split in PCOGALIGN_FRACTIONS else records
    images = ImageChecker(Path(image_root), allow_outside_root=allow_outside_root)
    samples = collect_samples(
        chosen, lambda rec: [_record_sample(rec, images, split, duplicates)], report, policy, logger
    )
    return samples, report


load_pcogalign = samples_only(
    load_pcogalign_with_report, "load_pcogalign", "Load one split of PCogAlignBench as samples."
)


def role_set_text(role_set: tuple[tuple[str, str], ...]) -> str:
    """The role set as the benchmark writes it: ``"Parent at Home; Volunteer at Community"``."""
    return "; ".join(f"{role} at {location}" for location, role in role_set)



def _record_sample(
    rec: RawRecord, images: ImageChecker, split: Split, duplicates: dict[tuple[Path, int], RawRecord]
) -> Sample:
    obj = require_mapping(rec, rec.value, "the record")
    rid = get_record_id(rec, obj, default=f"{rec.file.stem}-{rec.index}")
    check_unique(rec, rid, duplicates, "give every record a unique id (or none: the file name and position are used)")
    role_set = _role_set(rec, get_field(rec, obj, "individual_RoleSet"))
    query = get_str(rec, obj, "query").strip()
    image = require_mapping(rec, get_field(rec, obj, "image"), "field 'image'")
    file_path = get_str(rec, image, "file_path", "image.")
    reference = get_str(rec, obj, "golden_response").strip()
    info = require_mapping(rec, get_field(rec, obj, "eval_info"), "field 'eval_info'")
    location = get_str(rec, info, "location", "eval_info.").strip()
    situation = get_str(rec, info, "ImageDesc", "eval_info.").strip()
    expectation = get_str(rec, info, "EvalHelp", "eval_info.").strip()
    individual = info.get("individual")
    if isinstance(individual, (str, int)) and not isinstance(individual, bool) and str(individual).strip():
        individual_id = str(individual).strip()
    else:
        individual_id = role_set_text(role_set)
    path = images.check(rec, file_path, "image.file_path")
    persona = UserProfile(
        individual_id=individual_id, role_set=role_set, location=location, situation=situation, expectation=expectation
    )
    return Sample(
        id=rid,
        task="pcogalign",
        image=ImageFile(path),
        dialogue=(Turn(role="user", speaker="User", text=query),),
        persona=persona,
        reference=reference,
        split=split,
    )


def _role_set(rec: RawRecord, value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not value:
        got = f"a {type(value).__name__}" if not isinstance(value, dict) else "an empty object"
        raise rec.error(
            "wrong_type", f"field 'individual_RoleSet' must be a non-empty object mapping location -> role, got {got}",
            'write it as {"Home": "Parent", "Community": "Volunteer"}',
        )
    pairs: list[tuple[str, str]] = []
    for location, role in value.items():
        if not isinstance(role, str) or not role.strip() or not str(location).strip():
            raise rec.error(
                "wrong_type", f"individual_RoleSet[{location!r}] must be a non-empty role name, got {role!r}",
                "give every location a role as a string",
            )
        pairs.append((str(location).strip(), role.strip()))
    return tuple(pairs)
