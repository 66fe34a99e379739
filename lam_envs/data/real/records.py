"""Reading record files (JSON lists or JSONL) and checking fields and images, with errors that teach.

Shared by the MMRole and PCogAlign loaders. A file is either a JSON document whose top level is a list of records
(the form both real datasets use) or JSONL (one record per line; ``.jsonl`` files). A JSON file that does not parse
cannot be read record by record, so it always raises; a JSONL line that does not parse is one bad record and follows
the loader's ``on_error`` policy.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
import logging
from typing import Any, Callable, Iterable, ParamSpec, Sequence

from lam_envs.data.images import ImageLoadError, open_image, resolve_image_path
from lam_envs.data.real.errors import DatasetError, ErrorPolicy, LoadReport
from lam_envs.data.types import Sample

DATA_SUFFIXES: tuple[str, ...] = (".json", ".jsonl")

P = ParamSpec("P")


@dataclass(frozen=True)
class RawRecord:
    """One record as read from a file, before validation.

    Attributes:
        file: the file it came from.
        index: its position in the file (0-based; for JSONL, among the non-blank lines).
        value: the parsed JSON value, or ``None`` when the line did not parse (already reported).
    """

    file: Path
    index: int
    value: Any

    @property
    def label(self) -> str:
        """``"#3"``, or ``"#3 (id 'x')"`` when the record carries a string or integer ``id``."""
        rid = self.value.get("id") if isinstance(self.value, dict) else None
        if isinstance(rid, (str, int)) and not isinstance(rid, bool):
            return f"#{self.index} (id {str(rid)!r})"
        return f"#{self.index}"

    def error(self, kind: Any, problem: str, fix: str) -> DatasetError:
        """A :class:`DatasetError` about this record."""
        return DatasetError(self.file, self.label, kind, problem, fix)


def expand_paths(paths: Path | str | Sequence[Path | str], what: str) -> list[Path]:
    """Turn a file, a directory or a list of them into a sorted list of data files.

    A directory stands for every ``.json`` / ``.jsonl`` file under it (recursively), in sorted order, so the same
    directory always gives the same record order (and hence the same seeded split).

    Args:
        paths: file(s) or directory(ies).
        what: what the files are, for error messages (e.g. ``"MMRole dialogue"``).

    Returns:
        The data files, in a stable order.

    Raises:
        DatasetError: if a path does not exist, or a directory holds no data files.
    """
    items: Iterable[Path | str] = [paths] if isinstance(paths, (str, Path)) else paths
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in DATA_SUFFIXES)
            if not found:
                raise DatasetError(
                    p, None, "bad_file", f"no {what} files (*.json, *.jsonl) in this directory",
                    "point to the directory that holds the files, or to the files themselves",
                )
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise DatasetError(
                p, None, "bad_file", f"{what} file or directory does not exist",
                "check the path (relative paths are taken from the current directory)",
            )
    return files


def read_records(path: Path, policy: ErrorPolicy) -> list[RawRecord]:
    """Read every record of a JSON-list or JSONL file.

    Args:
        path: the file.
        policy: what to do with a JSONL line that does not parse (it stays in the list with ``value=None`` so that
            record positions, and therefore seeded splits, do not move when the line is fixed).

    Returns:
        The records in file order.

    Raises:
        DatasetError: if the file cannot be read, a JSON file does not parse or is not a list, or (in ``"raise"``
            mode) a JSONL line does not parse.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(
            path, None, "bad_file", f"cannot read the file ({exc})", "check that it is UTF-8 text"
        ) from None
    if path.suffix == ".jsonl":
        return _read_jsonl(path, text, policy)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            path, None, "malformed_json", f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            "repair the file; a .json file must hold one JSON list of records (use .jsonl for one record per line)",
        ) from None
    if not isinstance(data, list):
        raise DatasetError(
            path, None, "bad_file", f"the top level is a JSON {type(data).__name__}, not a list of records",
            "wrap the records in a list, or pass the file that holds the records",
        )
    return [RawRecord(path, i, value) for i, value in enumerate(data)]


def read_all(files: list[Path], policy: ErrorPolicy) -> list[RawRecord]:
    """Every record of ``files`` (see :func:`read_records`), in file order."""
    return [rec for file in files for rec in read_records(file, policy)]


def read_split_files(
    paths: Path | str | Sequence[Path | str], what: str, report: LoadReport, policy: ErrorPolicy
) -> tuple[list[RawRecord], dict[tuple[Path, int], RawRecord]]:
    """Read the files of a split: sets ``report.files`` (:func:`expand_paths`), returns every record
    (:func:`read_all`) and the records whose id repeats an earlier one (:func:`duplicate_ids`)."""
    report.files = expand_paths(paths, what)
    records = read_all(report.files, policy)
    return records, duplicate_ids(records)


def check_unique(rec: RawRecord, rid: str, duplicates: dict[tuple[Path, int], RawRecord], fix: str) -> None:
    """Raise a ``duplicate_id`` error if ``rec`` repeats an earlier record's id (see :func:`duplicate_ids`)."""
    if (rec.file, rec.index) in duplicates:
        other = duplicates[(rec.file, rec.index)]
        raise rec.error("duplicate_id", f"id {rid!r} is already used by record #{other.index} of {other.file}", fix)


def collect_samples(
    chosen: list[RawRecord],
    record_samples: Callable[[RawRecord], list[Sample]],
    report: LoadReport,
    policy: ErrorPolicy,
    logger: logging.Logger,
) -> list[Sample]:
    """The samples of the records of a split: the one record loop every real loader runs.

    Lines that did not parse are passed over (the policy has them already); a bad record goes to the policy; a valid
    record that yields no sample counts as ``unanswered``. Fills in the report's ``records`` and ``samples`` and
    finishes the policy (which logs what was skipped to ``logger``).

    Args:
        chosen: the split's records.
        record_samples: validates one record and returns its samples; raises :class:`DatasetError` if it is bad.
        report: the load's report.
        policy: the load's error policy.
        logger: the loader's logger.

    Raises:
        DatasetError: for a bad record in ``"raise"`` mode.
    """
    samples: list[Sample] = []
    report.records = len(chosen)
    for rec in chosen:
        if rec.value is None:  # a JSONL line that did not parse; already handled by the policy
            continue
        try:
            from_record = record_samples(rec)
        except DatasetError as err:
            policy.handle(err)
            continue
        if not from_record:
            report.unanswered += 1
        samples.extend(from_record)
    report.samples = len(samples)
    policy.finish(logger)
    return samples


def samples_only(
    load_with_report: Callable[P, tuple[list[Sample], LoadReport]], name: str, summary: str
) -> Callable[P, list[Sample]]:
    """The plain loader beside a ``load_*_with_report`` loader: the same arguments, only the samples returned.

    Args:
        load_with_report: the loader that also returns the :class:`LoadReport`.
        name: the plain loader's name (e.g. ``"load_mmrole"``).
        summary: the first sentence of its docstring, which then points to ``load_with_report`` for the arguments.

    Returns:
        The plain loader, with ``load_with_report``'s signature (returning ``list[Sample]``).
    """

    def load(*args: P.args, **kwargs: P.kwargs) -> list[Sample]:
        samples, _ = load_with_report(*args, **kwargs)
        return samples

    load.__name__ = load.__qualname__ = name
    load.__module__ = load_with_report.__module__
    load.__doc__ = f"{summary} See :func:`{load_with_report.__name__}` (same arguments)."
    load.__signature__ = inspect.signature(load_with_report).replace(  # type: ignore[attr-defined]
        return_annotation="list[Sample]"
    )
    return load


def duplicate_ids(records: list[RawRecord]) -> dict[tuple[Path, int], RawRecord]:
    """Records whose ``id`` repeats an earlier record's id, keyed by ``(file, index)``, mapped to that earlier record.

    Computed over all records of the files before splitting, so a duplicate is found even when its twin falls in
    another split.
    """
    first: dict[str, RawRecord] = {}
    dupes: dict[tuple[Path, int], RawRecord] = {}
    for rec in records:
        rid = rec.value.get("id") if isinstance(rec.value, dict) else None
        if isinstance(rid, (str, int)) and not isinstance(rid, bool):
            if str(rid) in first:
                dupes[(rec.file, rec.index)] = first[str(rid)]
            else:
                first[str(rid)] = rec
    return dupes


def _read_jsonl(path: Path, text: str, policy: ErrorPolicy) -> list[RawRecord]:
    records: list[RawRecord] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        index = len(records)
        try:
            records.append(RawRecord(path, index, json.loads(line)))
        except json.JSONDecodeError as exc:
            policy.handle(
                DatasetError(
                    path, f"#{index} (line {lineno})", "malformed_json", f"line is not valid JSON ({exc.msg})",
                    "repair the line; JSONL needs exactly one JSON object per line",
                )
            )
            records.append(RawRecord(path, index, None))
    return records


def require_mapping(rec: RawRecord, value: Any, name: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object, else a ``wrong_type`` error naming field ``name``."""
    if not isinstance(value, dict):
        raise rec.error(
            "wrong_type", f"{name} must be a JSON object, got {_type_name(value)}", f"make {name} an object"
        )
    return value


def get_field(rec: RawRecord, obj: dict[str, Any], key: str, where: str = "") -> Any:
    """``obj[key]``, or a ``missing_field`` error that names the field and the keys that are there."""
    if key not in obj:
        have = ", ".join(sorted(map(str, obj))) or "none"
        raise rec.error(
            "missing_field", f"field {where}{key!r} is missing (fields present: {have})",
            f"add {where}{key!r} to the record",
        )
    return obj[key]


def get_str(rec: RawRecord, obj: dict[str, Any], key: str, where: str = "", *, allow_empty: bool = False) -> str:
    """``obj[key]`` as a string; ``missing_field`` / ``wrong_type`` errors otherwise (empty strings are wrong too)."""
    value = get_field(rec, obj, key, where)
    if not isinstance(value, str):
        raise rec.error(
            "wrong_type", f"field {where}{key!r} must be a string, got {_type_name(value)}",
            f"store {where}{key!r} as a JSON string",
        )
    if not allow_empty and not value.strip():
        raise rec.error("wrong_type", f"field {where}{key!r} is empty", f"give {where}{key!r} a non-empty text")
    return value


def get_record_id(rec: RawRecord, obj: dict[str, Any], default: str | None = None) -> str:
    """The record's ``id`` as a string (integers allowed); ``default`` when absent and a default is given."""
    if "id" not in obj and default is not None:
        return default
    value = get_field(rec, obj, "id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and not value.strip()):
        raise rec.error("wrong_type", f"field 'id' must be a non-empty string or integer, got {value!r}", "fix the id")
    return str(value)


class ImageChecker:
    """Checks that record image paths stay under the image root and that the files fully decode, once per path.

    Real datasets reuse images across records (MMRole reuses COCO images across characters), so results are cached.
    The check is :func:`~lam_envs.data.images.open_image`, the same decode every reset does, so a file that passes
    here does not fail later (a truncated JPEG passes Pillow's ``verify()`` but not a decode).

    Args:
        root: directory that relative image paths in records are taken from.
        allow_outside_root: accept image paths that resolve outside ``root`` (absolute paths, ``..``, symlinks
            pointing out); refused by default.
    """

    def __init__(self, root: Path, *, allow_outside_root: bool = False) -> None:
        self.root = Path(root)
        self.allow_outside_root = allow_outside_root
        self._checked: dict[Path, ImageLoadError | None] = {}

    def check(self, rec: RawRecord, relative: str, field_name: str) -> Path:
        """Resolve ``relative`` against the root and decode the file.

        Args:
            rec: the record (for error messages).
            relative: the image path as written in the record.
            field_name: the record field it came from.

        Returns:
            The image's path.

        Raises:
            DatasetError: ``image_outside_root`` if the path leaves the root, ``missing_image`` if there is no such
                file, ``unreadable_image`` if it is not a file that decodes completely, ``image_too_large`` if it
                has more pixels than ``PIL.Image.MAX_IMAGE_PIXELS``.
        """
        where = f"image {relative!r} (field {field_name})"
        try:
            path = resolve_image_path(self.root, relative, allow_outside_root=self.allow_outside_root)
        except ImageLoadError as err:
            raise rec.error("image_outside_root", f"{where}: {err.reason}", err.fix) from None
        if path not in self._checked:
            self._checked[path] = _image_problem(path)
        problem = self._checked[path]
        if problem is None:
            return path
        if problem.problem == "missing":
            raise rec.error(
                "missing_image", f"{where} not found at {path}", f"check the image root ({self.root}) or add the file"
            )
        if problem.problem == "too_large":
            raise rec.error("image_too_large", f"{where}: {path} {problem.reason}", problem.fix)
        raise rec.error(
            "unreadable_image", f"image {path} (field {field_name}) is not a readable image: it {problem.reason}",
            problem.fix,
        )


def _image_problem(path: Path) -> ImageLoadError | None:
    try:
        open_image(path)
    except ImageLoadError as err:
        return err
    return None


def _type_name(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", int: "integer", float: "number", bool: "boolean"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
