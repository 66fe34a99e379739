"""The training profile splits PPO learn() into env step, rollout policy, update and the rest, from one run."""

from __future__ import annotations

from types import ModuleType
from typing import Callable

import pytest


@pytest.mark.slow
def test_small_profile_prints_every_part(benchmark_script: Callable[[str], ModuleType],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    module = benchmark_script("profile_train")
    argv = ["--train-rollouts", "1", "--train-n-steps", "4", "--reply-tokens", "3", "--num-samples", "8",
            "--threads", "1"]
    assert module.main(argv) == 0
    out = capsys.readouterr().out
    for label in (*module.PARTS, "other", "learn()"):
        assert f"| {label} |" in out, label
    args = module.parse_args(argv)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        result = module.profile(args, Path(tmp))
    parts = result["parts"]
    # One rollout of 4 steps: 4 env steps, 4 forward passes, one update; the parts fit inside learn().
    assert parts["env step"][0] == 4 and parts["update"][0] == 1
    assert parts["rollout policy"][0] >= 4
    assert sum(seconds for _, seconds in parts.values()) <= result["learn"] * 1.01
