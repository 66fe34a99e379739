"""``benchmarks/learning.py``'s command line asks for the study it names."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "learning.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("learning_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_flags_left_out_keep_the_study_defaults() -> None:
    from lam_agents.learning import LearningConfig

    _, config = load_script().parse_config([])
    assert config == LearningConfig()


def test_one_twin_one_task_a_long_budget() -> None:
    _, config = load_script().parse_config(["--algos", "ppo", "--tasks", "mmrole", "--action-spaces", "latent",
                                            "--seeds", "0", "--steps", "200000", "--out", "elsewhere"])
    assert (config.algos, config.tasks, config.action_spaces, config.seeds) == (("ppo",), ("mmrole",), ("latent",), (0,))
    assert config.steps == 200_000 and config.out == "elsewhere"


def test_quick_is_the_demos_configuration_with_overrides() -> None:
    from lam_agents.learning import LearningConfig

    _, config = load_script().parse_config(["--quick", "--seeds", "0"])
    assert config == LearningConfig.quick(seeds=(0,))


def test_an_unknown_twin_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_script().parse_config(["--action-spaces", "tokens"])
    assert "invalid choice: 'tokens'" in capsys.readouterr().err
