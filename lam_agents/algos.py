"""The algorithms ``lam train`` knows, their policies, and zoo-style YAML hyperparameters.

Hyperparameter files follow RL Zoo's layout: one YAML file per algorithm (``lam_agents/hyperparams/ppo.yml``), whose
top-level keys are env ids (``lam/MMRole-Latent-v0``) plus ``default`` for every other id; each entry holds the
algorithm's constructor keywords, with ``n_envs`` (rows decoded together) and ``policy_kwargs`` (a mapping) handled
by :mod:`lam_agents.train`. Users pass their own file with ``--hyperparams``; its entry replaces the shipped one.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class AlgoSpec:
    """How to build one algorithm.

    Attributes:
        name: Canonical name (``lam train --algo``).
        import_path: ``module:Class`` of the algorithm (imported when used).
        policy: The policy for the conversation envs' flat embedding observation.
        fair_start: Whether a fair start (and its KL penalty) is available for it.
        masked: Whether it takes the envs' ``action_masks``.
        recurrent: Whether its ``predict`` carries recurrent state.
    """

    name: str
    import_path: str
    policy: str
    fair_start: bool = False
    masked: bool = False
    recurrent: bool = False

    def load_class(self) -> type:
        """The algorithm class."""
        module, _, cls = self.import_path.partition(":")
        return getattr(__import__(module, fromlist=[cls]), cls)


ALGOS: dict[str, AlgoSpec] = {
    spec.name: spec
    for spec in (
        AlgoSpec("ppo", "stable_baselines3:PPO", "MlpPolicy", fair_start=True),
        AlgoSpec("a2c", "stable_baselines3:A2C", "MlpPolicy", fair_start=True),
        AlgoSpec("dqn", "stable_baselines3:DQN", "MlpPolicy"),
        AlgoSpec("qrdqn", "sb3_contrib:QRDQN", "MlpPolicy"),
        AlgoSpec("trpo", "sb3_contrib:TRPO", "MlpPolicy", fair_start=True),
        AlgoSpec("ars", "sb3_contrib:ARS", "MlpPolicy"),
        AlgoSpec("maskable_ppo", "sb3_contrib:MaskablePPO", "MlpPolicy", fair_start=True, masked=True),
        AlgoSpec("recurrent_ppo", "sb3_contrib:RecurrentPPO", "MlpLstmPolicy", recurrent=True),
        AlgoSpec("grpo", "lam_agents.grpo:GRPO", "MlpPolicy", fair_start=True),
    )
}


def algo_spec(name: str) -> AlgoSpec:
    """The spec for ``name``, accepting SB3 spellings (``PPO``, ``QR-DQN``, ``MaskablePPO``, ``RecurrentPPO``).

    Raises:
        ValueError: naming the known algorithms.
    """
    key = name.lower().replace("-", "").replace("_", "")
    for spec in ALGOS.values():
        if spec.name.replace("_", "") == key:
            return spec
    raise ValueError(f"unknown algorithm {name!r}; expected one of: {', '.join(ALGOS)}")


def default_hyperparams_file(algo: str) -> Path:
    """The shipped YAML file of ``algo``."""
    return Path(str(resources.files("lam_agents").joinpath("hyperparams", f"{algo_spec(algo).name}.yml")))


def load_hyperparams(algo: str, env_id: str, path: str | Path | None = None) -> dict[str, Any]:
    """The hyperparameters for ``algo`` on ``env_id``: the file's ``env_id`` entry, else its ``default`` entry.

    Args:
        algo: Algorithm name.
        env_id: Registered env id.
        path: A user YAML file; ``None`` uses the shipped one.

    Returns:
        A fresh dict of constructor keywords (may include ``n_envs`` and ``policy_kwargs``).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not a mapping or has no entry for ``env_id`` nor ``default``.
    """
    file = Path(path) if path is not None else default_hyperparams_file(algo)
    if not file.is_file():
        raise FileNotFoundError(f"hyperparameter file {file} does not exist; pass an existing --hyperparams YAML")
    data = yaml.safe_load(file.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{file} must be a mapping of env id (or 'default') to keyword arguments")
    entry = data.get(env_id, data.get("default"))
    if entry is None:
        raise ValueError(f"{file} has no entry for {env_id!r} nor a 'default' entry; add one")
    if not isinstance(entry, dict):
        raise ValueError(f"{file}: the entry for {env_id!r} must be a mapping of keyword arguments, got {entry!r}")
    if "policy_kwargs" in entry and not isinstance(entry["policy_kwargs"], dict):
        raise ValueError(f"{file}: policy_kwargs must be a YAML mapping, got {entry['policy_kwargs']!r}")
    return dict(entry)
