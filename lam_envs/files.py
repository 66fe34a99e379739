"""Validating readers for the files a user hands lam-gym: JSON objects, safetensors weights, tensor archives.

Every checkpoint, config and resumable run state is read through these functions, so a bad file fails the same way
whatever is wrong with it (missing, a directory, empty, truncated, not the expected format, the wrong JSON type): one
exception of the caller's config-error class, naming the file and saying how to fix it. Nothing here can run code
from a file: weights are safetensors, and tensor archives are read with ``torch.load(weights_only=True)``, which
only rebuilds tensors and plain containers and refuses any other object a pickle names.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16"})
"""safetensors dtype names of floating-point tensors (the only dtypes a parameter may be stored in)."""


def _check_file(path: Path, error: type[Exception], fix: str) -> None:
    if not path.exists():
        raise error(f"{path} does not exist; {fix}")
    if not path.is_file():
        raise error(f"{path} is not a file (a directory or a special file stands in its place); {fix}")
    if path.stat().st_size == 0:
        raise error(f"{path} is empty (an interrupted write?); {fix}")


def read_json_object(path: str | Path, error: type[Exception], fix: str) -> dict[str, Any]:
    """Read a JSON file whose top level must be an object.

    Args:
        path: The file.
        error: Exception class to raise (the caller's config error).
        fix: What the user should do, appended to every message.

    Returns:
        The parsed object.

    Raises:
        error: if the file is missing, not a regular file, empty, not UTF-8 JSON, or not a JSON object.
    """
    path = Path(path)
    _check_file(path, error, fix)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path} is not valid JSON ({exc}); {fix}") from None
    if not isinstance(data, dict):
        raise error(f"{path} holds a JSON {type(data).__name__}, not an object of settings; {fix}")
    return data


def safetensors_header(path: str | Path, error: type[Exception], fix: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Check that a file is a complete safetensors file and return its tensors' names, dtypes and shapes.

    Only the header is parsed (cheap even for large files); safetensors checks that the header's offsets cover the
    file exactly, so a truncated or padded file is caught here, before any loader touches it.

    Args:
        path: The weights file.
        error: Exception class to raise.
        fix: What the user should do.

    Returns:
        ``{name: (dtype, shape)}`` with safetensors dtype names (``"F32"``, ``"BF16"``, ``"I64"``, ...).

    Raises:
        error: if the file is missing, empty, truncated or not a safetensors file.
    """
    path = Path(path)
    _check_file(path, error, fix)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = {}
            for name in f.keys():
                tensor = f.get_slice(name)
                header[name] = (tensor.get_dtype(), tuple(tensor.get_shape()))
    except (SafetensorError, OSError) as exc:
        raise error(f"{path} is not a complete safetensors file ({exc}); {fix}") from None
    return header


def load_tensor_archive(path: str | Path, error: type[Exception], fix: str) -> Any:
    """Read a ``torch.save`` archive of tensors and plain containers, refusing anything that could run code.

    Args:
        path: The archive.
        error: Exception class to raise.
        fix: What the user should do.

    Returns:
        The stored object (tensors on the CPU).

    Raises:
        error: if the file is missing, empty, truncated, not a torch archive, or names any object beyond tensors,
            numbers, strings and the built-in containers (a crafted pickle, or an archive from an older version).
    """
    path = Path(path)
    _check_file(path, error, fix)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own message suggests weights_only=False, the one thing not to do with an untrusted file; keep the
        # part that says what the pickle asked for.
        found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\.\s|\n\n|$)", str(exc), re.DOTALL)
        reason = found.group(1).strip() if found else type(exc).__name__
        raise error(
            f"refused to load {path}: it holds objects other than tensors and plain containers, which lam-gym never "
            f"writes, so it is crafted, foreign, or from an older lam-gym version ({reason}); {fix}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - the restricted unpickler fails on junk input with any error type
        raise error(f"{path} is not a readable torch archive ({type(exc).__name__}: {exc}); {fix}") from None
