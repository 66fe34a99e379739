"""The decode benchmark runs end to end on a tiny checkpoint and reports sane numbers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "backbone_decode.py"


@pytest.mark.slow  # about 1 s inside the suite, but importing transformers alone can take 5 s here
def test_benchmark_reports_every_batch_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lam_envs.builders.tiny import build_tiny_llava

    spec = importlib.util.spec_from_file_location("backbone_decode", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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
