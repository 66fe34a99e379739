"""The shipped zoo-style YAMLs (lam_agents/hyperparams/*.yml): lam train and RL Zoo both read every entry."""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

import pytest
import yaml

from lam_agents.algos import ALGOS, ZOO_ONLY_KEYS, default_hyperparams_file, load_hyperparams, parse_literal_kwargs
from lam_envs import ENV_IDS
from lam_envs.envs.registration import DIALOGUE_ENV_IDS

RL_ZOO_NAMES = {"ppo": "ppo", "a2c": "a2c", "dqn": "dqn", "qrdqn": "qrdqn", "trpo": "trpo", "ars": "ars",
                "recurrent_ppo": "ppo_lstm"}
"""Our algorithms that RL Zoo 2.9.2 trains, by RL Zoo's name (it has no MaskablePPO, and GRPO is ours)."""

ENTRY_OVERRIDES = {(algo, env_id): {"gamma"} for algo in ("a2c", "dqn", "ppo", "qrdqn", "recurrent_ppo", "trpo")
                   for env_id in DIALOGUE_ENV_IDS}
"""Per-env entries that differ from their file's ``default``, and in which keys (anything else is drift)."""


def _raw(algo: str) -> dict:
    return yaml.safe_load(default_hyperparams_file(algo).read_text())


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_every_entry_resolves_to_constructor_keywords_for_every_env_id(algo: str) -> None:
    spec = ALGOS[algo]
    cls = spec.load_class()
    accepted = set(inspect.signature(cls.__init__).parameters)
    policy_params = set(inspect.signature(cls.policy_aliases[spec.policy].__init__).parameters)
    for env_id in (*ENV_IDS, "default"):
        params = load_hyperparams(algo, env_id)
        assert not set(ZOO_ONLY_KEYS) & set(params)
        assert set(params) - {"n_envs"} <= accepted, f"{algo} {env_id}: {set(params) - accepted - {'n_envs'}}"
        kwargs = params.get("policy_kwargs", {})
        assert isinstance(kwargs, dict) and set(kwargs) <= policy_params, (algo, env_id, kwargs)


@pytest.mark.parametrize("algo", sorted(RL_ZOO_NAMES))
def test_rl_zoo_entries_per_env_id_share_the_default(algo: str) -> None:
    data = _raw(algo)
    for env_id in ENV_IDS:
        entry = data[env_id]
        assert {"policy", "n_timesteps", "policy_kwargs"} <= set(entry), (algo, env_id)
        assert entry["policy"] == ALGOS[algo].policy
        assert isinstance(entry["policy_kwargs"], str)  # RL Zoo evals the string
        # RL Zoo's eval and our literal reading agree (a test may eval its own committed file).
        assert eval(entry["policy_kwargs"], {"__builtins__": {}}, {"dict": dict}) == parse_literal_kwargs(
            entry["policy_kwargs"])
        differs = {k for k in set(entry) | set(data["default"]) if entry.get(k) != data["default"].get(k)}
        assert differs == ENTRY_OVERRIDES.get((algo, env_id), set()), (algo, env_id, differs)


def test_files_without_rl_zoo_keep_one_default_entry() -> None:
    for algo in set(ALGOS) - set(RL_ZOO_NAMES):
        assert list(_raw(algo)) == ["default"], algo


def test_shipped_values_that_measurements_set() -> None:
    ppo = load_hyperparams("ppo", "lam/MMRole-Latent-v0")
    assert (ppo["learning_rate"], ppo["gae_lambda"], ppo["gamma"]) == (1.0e-3, 1.0, 1.0)
    assert ppo["policy_kwargs"] == {"net_arch": [64, 64]}
    assert load_hyperparams("ppo", "lam/PCogAlign-Token-v0")["learning_rate"] == 1.0e-3  # one step size, both twins
    assert load_hyperparams("ppo", "lam/PCogAlign-Dialogue-Latent-v0")["gamma"] == 0.995
    grpo = load_hyperparams("grpo", "lam/MMRole-Latent-v0")
    assert (grpo["learning_rate"], grpo["n_epochs"]) == (3.0e-3, 4)


def test_entries_are_copies_so_callers_cannot_change_each_other() -> None:
    a = load_hyperparams("ppo", "lam/MMRole-Latent-v0")
    a["policy_kwargs"]["net_arch"].append(1)
    assert load_hyperparams("ppo", "lam/PCogAlign-Latent-v0")["policy_kwargs"] == {"net_arch": [64, 64]}


@pytest.mark.parametrize("text, expected", [
    ("dict(net_arch=[64, 64])", {"net_arch": [64, 64]}),
    ("{'net_arch': [64], 'n_quantiles': 25}", {"net_arch": [64], "n_quantiles": 25}),
    ("dict(net_arch=dict(pi=[32], vf=[32]), ortho_init=False, log_std_init=-1.5)",
     {"net_arch": {"pi": [32], "vf": [32]}, "ortho_init": False, "log_std_init": -1.5}),
])
def test_policy_kwargs_strings_are_read_as_literals(text: str, expected: dict) -> None:
    assert parse_literal_kwargs(text) == expected


@pytest.mark.parametrize("text", ["__import__('os').system('touch pwned')", "dict(activation_fn=nn.ReLU)",
                                  "dict(**extra)", "[64, 64]", "dict(net_arch=[64, 64]", "open('x').read()"])
def test_policy_kwargs_code_is_refused_naming_file_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           text: str) -> None:
    monkeypatch.chdir(tmp_path)
    user = tmp_path / "mine.yml"
    user.write_text(yaml.safe_dump({"lam/MMRole-Latent-v0": {"n_steps": 8, "policy_kwargs": text}}))
    with pytest.raises(ValueError, match=r"mine\.yml: lam/MMRole-Latent-v0\.policy_kwargs"):
        load_hyperparams("ppo", "lam/MMRole-Latent-v0", user)
    assert not (tmp_path / "pwned").exists()


def test_rl_zoo_keys_are_dropped_and_a_foreign_policy_is_flagged(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    user = tmp_path / "zoo.yml"
    user.write_text("default:\n  n_steps: 8\n  n_timesteps: 5000\n  policy: CnnPolicy\n"
                    "  policy_kwargs:\n    net_arch: [8]\n")
    with caplog.at_level(logging.WARNING, logger="lam_agents.algos"):
        params = load_hyperparams("ppo", "lam/MMRole-Latent-v0", user)
    assert params == {"n_steps": 8, "policy_kwargs": {"net_arch": [8]}}
    assert "policy='CnnPolicy'" in caplog.text and "ignores" in caplog.text
    user.write_text("default:\n  policy_kwargs: 3\n")
    with pytest.raises(ValueError, match="default.policy_kwargs must be a YAML mapping or a string"):
        load_hyperparams("ppo", "lam/MMRole-Latent-v0", user)


@pytest.mark.slow
def test_quick_search_writes_results_and_resumes(tmp_path: Path, tiny_env_kwargs: dict) -> None:
    import json
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    base = [sys.executable, "benchmarks/hyperparam_search.py", "--quick", "--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([*base, "--env-kwargs", json.dumps(tiny_env_kwargs), *extra], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=600)

    done = run()
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "ppo_MMRole-Latent-v0.json").read_text())
    assert [t["number"] for t in record["trials"]] == [0, 1]
    # Trial 0 is the YAML entry; every trial starts from the same fair start.
    assert record["trials"][0]["params"] == {"learning_rate": 1.0e-3, "n_epochs": 4, "n_steps": 64}
    assert len({t["start"] for t in record["trials"]}) == 1
    assert "| 0 (YAML entry) |" in (tmp_path / "ppo_MMRole-Latent-v0.md").read_text()
    again = run()  # resumes: both trials are finished, nothing trains
    assert again.returncode == 0
    assert json.loads((tmp_path / "ppo_MMRole-Latent-v0.json").read_text())["trials"] == record["trials"]
    other = run("--seeds", "1")
    assert other.returncode != 0 and "other settings" in other.stderr
