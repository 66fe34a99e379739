"""Run directories that never overwrite or misdescribe each other, and checkpoints a run resumes from exactly.

A run directory (``lam train --out DIR``) holds::

    run.json                 the full configuration (written once the env and model are built, atomically)
    model.zip                the final SB3 model; its lam.json entry names the env id and the algorithm
    checkpoints/<step>/      a resumable checkpoint, taken between two rollouts:
        model.zip            policy, optimiser and step count (SB3's own format)
        state.json           RNG states, the env's rows (sample, reply so far, generators), why it was taken
        arrays.npz           the arrays among them (torch and NumPy RNG states, the last observation)

Checkpoints are taken where nothing is half-done: after an update and before the next rollout, so that a resumed run
collects the same rollout the uninterrupted run would have collected. Every file is written to a temporary name and
renamed, so a crash never leaves a half-written ``run.json`` or checkpoint behind. Nothing here unpickles: the JSON and
NumPy files load with ``allow_pickle=False``; only ``model.zip`` goes through SB3's loader (cloudpickle), so load runs
you trust (see the README's *Reliability* section).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

RUN_FILE = "run.json"
MODEL_FILE = "model.zip"
CHECKPOINTS = "checkpoints"
META_ENTRY = "lam.json"
"""Name of the entry that :func:`stamp_model` adds to an SB3 zip (SB3's loader ignores entries it does not know)."""


class RunDirError(ValueError):
    """A run directory that cannot be used as asked (occupied, not a run, or inconsistent)."""


# ------------------------------------------------------------------------------------------------------ writing
def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename (all or nothing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    """:func:`write_atomic` of ``obj`` as indented JSON."""
    write_atomic(path, json.dumps(obj, indent=1, default=str))


def prepare(out: Path, *, overwrite: bool, resume: bool) -> None:
    """Make ``out`` ready for a new run (or check that it holds one to resume).

    Args:
        out: The run directory.
        overwrite: Replace the run already in ``out`` (only a directory that holds a ``run.json``, or an empty one).
        resume: Continue the run in ``out`` (it must hold ``run.json`` and a checkpoint).

    Raises:
        RunDirError: if ``out`` holds files and neither flag allows using it, or the flags disagree with its content.
    """
    if overwrite and resume:
        raise RunDirError("pass either --overwrite (start again) or --resume (continue), not both")
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file; pass a directory")
    occupied = out.is_dir() and any(out.iterdir())
    if resume:
        if not (out / RUN_FILE).is_file():
            raise RunDirError(f"--resume: {out} holds no {RUN_FILE}; pass the directory of an earlier `lam train`")
        if latest_checkpoint(out) is None:
            raise RunDirError(
                f"--resume: {out} has no checkpoint under {CHECKPOINTS}/ (the run stopped before its first one); "
                "start it again with --overwrite"
            )
        return
    if not occupied:
        return
    if not overwrite:
        raise RunDirError(
            f"--out {out} already holds files; pass --resume to continue that run, --overwrite to replace it, "
            "or another --out"
        )
    if not (out / RUN_FILE).is_file():
        raise RunDirError(f"--overwrite: {out} is not a lam run directory (no {RUN_FILE}); refusing to delete it")
    for child in out.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


# ------------------------------------------------------------------------------------------------ model stamps
def stamp_model(zip_path: Path, env_id: str, algo: str) -> None:
    """Record the env id and algorithm inside an SB3 ``model.zip`` (as a JSON entry, read without unpickling)."""
    with zipfile.ZipFile(zip_path, "a") as z:
        if META_ENTRY not in z.namelist():
            z.writestr(META_ENTRY, json.dumps({"env_id": env_id, "algo": algo}))


def read_stamp(zip_path: Path) -> dict[str, Any] | None:
    """The :func:`stamp_model` entry of ``zip_path`` (``None`` if it has none).

    Raises:
        RunDirError: if the file is not a zip archive.
    """
    try:
        with zipfile.ZipFile(zip_path) as z:
            if META_ENTRY not in z.namelist():
                return None
            return json.loads(z.read(META_ENTRY))
    except zipfile.BadZipFile:
        raise RunDirError(f"{zip_path} is not an SB3 model archive (not a zip file)") from None


def check_stamp(zip_path: Path, run: dict[str, Any]) -> None:
    """Check that ``zip_path`` was trained on the env and with the algorithm its ``run.json`` names.

    Raises:
        RunDirError: naming both values when they disagree, or when the model carries no stamp.
    """
    stamp = read_stamp(zip_path)
    config = run.get("config", {})
    if stamp is None:
        raise RunDirError(
            f"{zip_path} does not record its env id and algorithm (it was not written by `lam train`); "
            "load it with the SB3 class directly if you trust it"
        )
    for key in ("env_id", "algo"):
        if stamp.get(key) != config.get(key):
            raise RunDirError(
                f"{zip_path} was trained with {key}={stamp.get(key)!r} but its run.json says {config.get(key)!r}; "
                "the model and run.json come from different runs"
            )


# ------------------------------------------------------------------------------------------------- checkpoints
def latest_checkpoint(out: Path) -> Path | None:
    """The checkpoint folder of ``out`` with the most steps (complete ones only), or ``None``."""
    root = Path(out) / CHECKPOINTS
    if not root.is_dir():
        return None
    done = [p for p in root.iterdir() if p.is_dir() and p.name.isdigit() and (p / "state.json").is_file()]
    return max(done, key=lambda p: int(p.name), default=None)


def rng_state() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The process-global RNG states (Python, NumPy, torch) as JSON-able values and arrays."""
    np_name, np_keys, np_pos, np_gauss, np_cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    meta = {"numpy": [np_name, int(np_pos), int(np_gauss), float(np_cached)],
            "python": [py_version, list(py_state), py_gauss]}
    arrays = {"numpy_keys": np.asarray(np_keys), "torch": torch.get_rng_state().numpy()}
    return meta, arrays


def set_rng_state(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Restore what :func:`rng_state` returned."""
    name, pos, gauss, cached = meta["numpy"]
    np.random.set_state((name, arrays["numpy_keys"], pos, gauss, cached))
    version, state, py_gauss = meta["python"]
    random.setstate((version, tuple(state), py_gauss))
    torch.set_rng_state(torch.from_numpy(np.array(arrays["torch"], dtype=np.uint8)))


def save_checkpoint(out: Path, step: int, model: Any, state: dict[str, Any], arrays: dict[str, np.ndarray],
                    env_id: str, algo: str) -> Path:
    """Write one checkpoint under ``out/checkpoints/<step>`` (complete or not at all).

    Args:
        out: The run directory.
        step: Environment steps so far.
        model: The SB3 model (saved with its optimiser).
        state: JSON-able state (RNGs, env rows, reason).
        arrays: Arrays to keep beside it (``allow_pickle=False`` compatible).
        env_id: Recorded in the model's stamp.
        algo: Recorded in the model's stamp.

    Returns:
        The checkpoint folder.
    """
    root = Path(out) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{step:012d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".partial-"))
    try:
        model.save(tmp / MODEL_FILE)
        stamp_model(tmp / MODEL_FILE, env_id, algo)
        np.savez(tmp / "arrays.npz", **arrays)
        write_json_atomic(tmp / "state.json", state)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_checkpoint_state(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON state and arrays of a checkpoint folder (nothing is unpickled)."""
    state = json.loads((folder / "state.json").read_text())
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return state, arrays
