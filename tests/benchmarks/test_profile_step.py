"""The step profile splits both twins' time into backbone step, read-out, autoreset and judge, from one run."""

from __future__ import annotations

from types import ModuleType
from typing import Callable

import pytest


def test_small_profile_prints_every_part(benchmark_script: Callable[[str], ModuleType],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    module = benchmark_script("profile_step")
    argv = ["--num-envs", "2", "--steps", "6", "--warmup", "1", "--reply-tokens", "3", "--num-samples", "4",
            "--threads", "1"]
    assert module.main(argv) == 0
    out = capsys.readouterr().out
    for label in module.PARTS:
        assert f"| {label} (" in out, label
    # 6 steps of 3-token replies on 2 rows: every row resets at least once, and the latent twin runs its read-out
    # at every step while the token twin's is the action itself.
    result = module.profile("Latent", module.parse_args(argv))
    calls, seconds = result["parts"]["read-out"]
    assert calls == 6 and seconds > 0
    assert result["parts"]["autoreset"][0] >= 1 and result["episodes"] >= 2
    assert result["parts"]["backbone step"][0] == 6
