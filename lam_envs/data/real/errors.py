"""What goes wrong when reading real dataset files, and the account of what was skipped.

Every problem with a record becomes a :class:`DatasetError` that names the file, the record and what is wrong and
how to fix it. Loaders hand each error to a :class:`ErrorPolicy`: in ``"raise"`` mode it is raised at once; in
``"skip"`` mode the record is left out and the error is kept in a :class:`LoadReport`, whose summary is logged as a
warning when loading ends. Nothing is dropped without being counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

OnError = Literal["raise", "skip"]
ON_ERROR_CHOICES: tuple[OnError, ...] = ("raise", "skip")

# Closed set of problem kinds, so that callers (and tests) can count skips by cause.
ErrorKind = Literal[
    "malformed_json",
    "missing_field",
    "wrong_type",
    "bad_dialogue",
    "duplicate_id",
    "missing_image",
    "unreadable_image",
    "image_too_large",
    "image_outside_root",
    "unknown_character",
    "bad_profile",
    "bad_file",
]


class DatasetError(ValueError):
    """A dataset file or record that cannot be turned into samples.

    Attributes:
        file: the file the problem is in.
        record: which record (``"#3"`` for the 4th record, plus its id when it has one); ``None`` for file-level
            problems.
        kind: the kind of problem (see :data:`ErrorKind`).
        problem: what is wrong.
        fix: how to fix it.
    """

    def __init__(self, file: Path, record: str | None, kind: ErrorKind, problem: str, fix: str) -> None:
        self.file = Path(file)
        self.record = record
        self.kind = kind
        self.problem = problem
        self.fix = fix
        where = f"{self.file}" if record is None else f"{self.file}, record {record}"
        super().__init__(f"{where}: {problem}. Fix: {fix}")


@dataclass(frozen=True)
class SkippedRecord:
    """One record left out in ``on_error="skip"`` mode."""

    file: Path
    record: str | None
    kind: ErrorKind
    reason: str


@dataclass
class LoadReport:
    """What a loader read, produced and skipped.

    Attributes:
        task: ``"mmrole"`` or ``"pcogalign"``.
        split: the split that was loaded.
        files: the data files read for this split.
        records: records that belong to the requested split (valid or not).
        samples: samples produced.
        unanswered: valid records that produced no sample because no reply follows a user turn (the real MMRole
            files hold such prompt-only records; they are not errors).
        skipped: records left out because of a :class:`DatasetError` (only in ``on_error="skip"`` mode).
    """

    task: str
    split: str
    files: list[Path] = field(default_factory=list)
    records: int = 0
    samples: int = 0
    unanswered: int = 0
    skipped: list[SkippedRecord] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        """Number of records skipped because of errors."""
        return len(self.skipped)

    def skipped_by_kind(self) -> dict[str, int]:
        """Skipped records counted by kind of problem."""
        return dict(Counter(s.kind for s in self.skipped))

    def summary(self) -> str:
        """One line for logs: counts, and skips by kind."""
        line = (
            f"{self.task}/{self.split}: {self.records} records -> {self.samples} samples "
            f"({self.unanswered} without a reply, {self.n_skipped} skipped)"
        )
        if self.skipped:
            kinds = ", ".join(f"{k}: {n}" for k, n in sorted(self.skipped_by_kind().items()))
            line += f"; skipped by kind: {kinds}"
        return line


class ErrorPolicy:
    """Applies ``on_error`` to each :class:`DatasetError` a loader meets.

    Args:
        on_error: ``"raise"`` to stop at the first bad record, ``"skip"`` to leave bad records out and count them.
        report: where skipped records are recorded.

    Raises:
        ValueError: if ``on_error`` is not one of :data:`ON_ERROR_CHOICES`.
    """

    def __init__(self, on_error: OnError, report: LoadReport) -> None:
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
        self.on_error = on_error
        self.report = report

    def handle(self, error: DatasetError) -> None:
        """Raise ``error`` or record it as a skipped record, depending on the policy."""
        if self.on_error == "raise":
            raise error
        self.report.skipped.append(SkippedRecord(error.file, error.record, error.kind, str(error)))

    def finish(self, logger: logging.Logger) -> None:
        """Log the report: a warning listing every skipped record when any were skipped, else an info line."""
        if not self.report.skipped:
            logger.info("%s", self.report.summary())
            return
        # Every reason is listed: the warning is the user's only sign of which records to fix.
        reasons = "\n".join(f"  - {s.reason}" for s in self.report.skipped)
        logger.warning("%s\n%s", self.report.summary(), reasons)
