"""lam_envs.files: the validating readers every checkpoint and run file goes through, and a pin that nothing else
unpickles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import lam_agents
import lam_envs
from lam_envs.files import load_tensor_archive, read_json_object, safetensors_header


class _Bad(ValueError):
    pass


def test_json_object(tmp_path: Path) -> None:
    (tmp_path / "ok.json").write_text('{"a": 1}')
    assert read_json_object(tmp_path / "ok.json", _Bad, "fix it") == {"a": 1}
    for text, match in (("", "is empty"), ("[1]", "JSON list"), ("1", "JSON int"), ("{", "not valid JSON"),
                        (b"\xff\xfe{}", "not valid JSON")):
        path = tmp_path / "bad.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(_Bad, match=rf"{re.escape(str(path))} .*{match}.*; fix it"):
            read_json_object(path, _Bad, "fix it")
    with pytest.raises(_Bad, match="is not a file"):
        read_json_object(tmp_path, _Bad, "fix it")


def test_safetensors_header(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(2, 3, dtype=torch.bfloat16)}, str(path))
    assert safetensors_header(path, _Bad, "fix it") == {"a": ("BF16", (2, 3))}
    data = path.read_bytes()
    for bad in (data[:-1], data + b"\0", b"\x00" * 8, b"PK\x03\x04 a zip, say"):
        path.write_bytes(bad)
        with pytest.raises(_Bad, match="not a complete safetensors file.*fix it"):
            safetensors_header(path, _Bad, "fix it")


def test_tensor_archive_refuses_objects(tmp_path: Path) -> None:
    path = tmp_path / "a.pt"
    torch.save({"x": torch.ones(2), "n": 3, "rows": [{"loss": 1.0}], "t": (1, "a")}, path)
    assert load_tensor_archive(path, _Bad, "fix it")["n"] == 3
    torch.save({"p": Path("x")}, path)  # harmless, but an object all the same
    with pytest.raises(_Bad, match="refused to load"):
        load_tensor_archive(path, _Bad, "fix it")


def test_nothing_in_the_packages_unpickles_unsafely() -> None:
    unsafe = re.compile(r"weights_only\s*=\s*False|pickle\.loads?\(|allow_pickle\s*=\s*True|torch\.load\(")
    hits = []
    for package in (lam_envs, lam_agents):
        for file in Path(package.__file__).parent.rglob("*.py"):
            for n, line in enumerate(file.read_text().splitlines(), 1):
                if unsafe.search(line) and file.name != "files.py":
                    hits.append(f"{file}:{n}: {line.strip()}")
    assert not hits, "read files through lam_envs.files instead:\n" + "\n".join(hits)
