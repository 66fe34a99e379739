"""``benchmarks/learning.py``'s command line asks for the study it names."""

from __future__ import annotations

from types import ModuleType
from typing import Callable

import pytest


def test_flags_left_out_keep_the_study_defaults(benchmark_script: Callable[[str], ModuleType]) -> None:
    from lam_agents.learning import LearningConfig

    _, config = benchmark_script("learning").parse_config([])
    assert config == LearningConfig()


def test_one_twin_one_task_a_long_budget(benchmark_script: Callable[[str], ModuleType]) -> None:
    argv = ["--algos", "ppo", "--tasks", "mmrole", "--action-spaces", "latent", "--seeds", "0", "--steps", "200000",
            "--out", "elsewhere"]
    _, config = benchmark_script("learning").parse_config(argv)
    assert (config.algos, config.tasks, config.action_spaces) == (("ppo",), ("mmrole",), ("latent",))
    assert config.seeds == (0,)
    assert config.steps == 200_000 and config.out == "elsewhere"


def test_quick_is_the_demos_configuration_with_overrides(benchmark_script: Callable[[str], ModuleType]) -> None:
    from lam_agents.learning import LearningConfig

    _, config = benchmark_script("learning").parse_config(["--quick", "--seeds", "0"])
    assert config == LearningConfig.quick(seeds=(0,))


def test_an_unknown_twin_is_refused(
    benchmark_script: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        benchmark_script("learning").parse_config(["--action-spaces", "tokens"])
    assert "invalid choice: 'tokens'" in capsys.readouterr().err
