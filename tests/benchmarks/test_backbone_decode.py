"""The decode benchmark runs end to end on a tiny checkpoint and reports sane numbers."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest


@pytest.mark.slow  # about 1 s inside the suite, but importing transformers alone can take 5 s here
def test_benchmark_reports_every_batch_size(
    benchmark_script: Callable[[str], ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lam_envs.builders.tiny import build_tiny_llava

    module = benchmark_script("backbone_decode")
    ckpt = build_tiny_llava(tmp_path / "llava")
    out = tmp_path / "result.json"
    argv = ["--backbone-dir", str(ckpt), "--batch-sizes", "1", "3", "--repeats", "2", "--prefill-repeats", "1",
            "--warmup", "1", "--json", str(out)]
    rows = module.main(argv)
    assert [r["batch"] for r in rows] == [1, 3]
    assert all(r["step_ms"] > 0 and r["decode_tokens_per_s"] > 0 and r["prefill_ms"] > 0 for r in rows)
    printed = capsys.readouterr().out
    assert "| batch |" in printed and "seed 0" in printed
    assert json.loads(out.read_text())["rows"] == rows
