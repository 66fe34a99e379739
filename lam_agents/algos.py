"""The algorithms ``lam train`` knows, their policies, and zoo-style YAML hyperparameters.

Hyperparameter files follow RL Zoo's layout: one YAML file per algorithm (``lam_agents/hyperparams/ppo.yml``), whose
top-level keys are env ids (``lam/MMRole-Latent-v0``) plus ``default`` for every other id; each entry holds the
algorithm's constructor keywords, with ``n_envs`` (rows decoded together) and ``policy_kwargs`` handled by
:mod:`lam_agents.train`. Users pass their own file with ``--hyperparams``; its entry replaces the shipped one.

The shipped files are also RL Zoo config files (``python -m rl_zoo3.train --conf-file lam_agents/hyperparams/ppo.yml
--gym-packages lam_envs ...``), so their entries carry what RL Zoo needs and ``lam train`` does not:

- ``policy`` and ``n_timesteps`` are read by RL Zoo only and dropped here: ``lam train`` picks the policy itself
  (the algorithm's, or the fair-start policy) and takes the budget from ``--steps``.
- ``policy_kwargs`` may be a string, as RL Zoo writes it (``"dict(net_arch=[64, 64])"``). RL Zoo ``eval``s it; here it
  is read as data only: a dict literal or ``dict(...)`` of literals, anything else is refused. A YAML mapping works
  too.
"""

from __future__ import annotations

import ast
import copy
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

ZOO_ONLY_KEYS: tuple[str, ...] = ("policy", "n_timesteps")
"""Entry keys that RL Zoo reads and :func:`load_hyperparams` drops (lam train has its own policy and ``--steps``)."""

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

    RL Zoo's keys ``policy`` and ``n_timesteps`` are dropped (see the module docstring); ``policy_kwargs`` written as
    a string is parsed as a literal, never evaluated.

    Args:
        algo: Algorithm name.
        env_id: Registered env id (or ``"default"``).
        path: A user YAML file; ``None`` uses the shipped one.

    Returns:
        A fresh dict of constructor keywords (may include ``n_envs`` and ``policy_kwargs``, then a dict).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not a mapping, has no entry for ``env_id`` nor ``default``, or an entry's
            ``policy_kwargs`` is neither a mapping nor a string holding a literal dict.
    """
    file = Path(path) if path is not None else default_hyperparams_file(algo)
    if not file.is_file():
        raise FileNotFoundError(f"hyperparameter file {file} does not exist; pass an existing --hyperparams YAML")
    data = yaml.safe_load(file.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{file} must be a mapping of env id (or 'default') to keyword arguments")
    key = env_id if env_id in data else "default"
    entry = data.get(key)
    if entry is None:
        raise ValueError(f"{file} has no entry for {env_id!r} nor a 'default' entry; add one")
    if not isinstance(entry, dict):
        raise ValueError(f"{file}: the entry for {key!r} must be a mapping of keyword arguments, got {entry!r}")
    # Entries share values through YAML aliases: copy, so a caller editing its dict cannot change another entry's.
    params = copy.deepcopy(entry)
    policy = params.get("policy")
    if policy is not None and policy != algo_spec(algo).policy:
        logger.warning("%s: %s sets policy=%r, which lam train ignores (it uses %s, or the fair-start policy)",
                       file, key, policy, algo_spec(algo).policy)
    for zoo_key in ZOO_ONLY_KEYS:
        params.pop(zoo_key, None)
    if "policy_kwargs" in params:
        params["policy_kwargs"] = _policy_kwargs(params["policy_kwargs"], f"{file}: {key}.policy_kwargs")
    return params


def _policy_kwargs(value: Any, where: str) -> dict[str, Any]:
    """``policy_kwargs`` as a dict: a YAML mapping as is, a string parsed by :func:`parse_literal_kwargs`."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        return parse_literal_kwargs(value, where)
    raise ValueError(f"{where} must be a YAML mapping or a string such as \"dict(net_arch=[64, 64])\", got {value!r}")


def parse_literal_kwargs(text: str, where: str = "policy_kwargs") -> dict[str, Any]:
    """A keyword dict written as RL Zoo writes it, read as data: nothing in ``text`` is executed.

    Accepted: a dict literal (``"{'net_arch': [64, 64]}"``) or a call of ``dict`` with keyword arguments
    (``"dict(net_arch=[64, 64], n_quantiles=25)"``), nested freely, whose leaves are Python literals. Names, other
    calls and attribute access (``activation_fn=nn.ReLU``) are refused.

    Args:
        text: The string.
        where: What to name in errors (file and key).

    Raises:
        ValueError: naming ``where`` and the offending text, if ``text`` is not such a dict.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
        value = _literal(tree.body)
    except (SyntaxError, ValueError, TypeError) as exc:  # TypeError: an unhashable key
        raise ValueError(
            f"{where} = {text!r} is not a literal dict ({exc}); lam train reads only dict literals and dict(...) of "
            "literals and never evaluates code: write e.g. \"dict(net_arch=[64, 64])\" or a YAML mapping") from None
    if not isinstance(value, dict):
        raise ValueError(f"{where} = {text!r} must be a dict, got a {type(value).__name__}; "
                         "write e.g. \"dict(net_arch=[64, 64])\" or a YAML mapping")
    return value


def _literal(node: ast.expr) -> Any:
    """The value of an expression made of literals, containers and ``dict(key=...)`` calls (ValueError otherwise)."""
    if isinstance(node, ast.Call):
        if not (isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args
                and all(kw.arg is not None for kw in node.keywords)):
            raise ValueError(f"the call {ast.unparse(node)!r} is not dict(key=value, ...)")
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise ValueError("** unpacking is not a literal")
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}  # type: ignore[arg-type]
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"{ast.unparse(node)!r} is not a literal") from None
