"""Building the SB3-facing vectorised conversation envs (the SB3 adapter is :mod:`lam_agents.vec_env`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lam_envs  # noqa: F401  (registers the lam/ ids)
from lam_agents.vec_env import ConversationVecEnv
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

__all__ = ["ConversationVecEnv", "EnvParts", "env_parts", "inner_env", "make_vec_env"]


def make_vec_env(env_id: str, n_envs: int, seed: int, env_kwargs: dict[str, Any] | None = None) -> VecEnv:
    """A seeded, monitored SB3 vector env of ``n_envs`` rows of the registered ``env_id``.

    Args:
        env_id: A registered id, e.g. ``"lam/MMRole-Latent-v0"``.
        n_envs: Rows decoded together (one backbone call per step for all of them).
        seed: Row i draws its episodes from ``seed + i``.
        env_kwargs: Keywords of :class:`lam_envs.envs.config.ConversationConfig` (backbone, split, ...).

    Returns:
        A :class:`VecMonitor` over a :class:`ConversationVecEnv` (the monitor fills SB3's episode statistics).

    Raises:
        ValueError: for an unknown id or a non-positive ``n_envs``.
    """
    if env_id not in lam_envs.ENV_IDS:
        raise ValueError(f"unknown env id {env_id!r}; expected one of: {', '.join(lam_envs.ENV_IDS)}")
    if n_envs <= 0:
        raise ValueError(f"n_envs={n_envs} must be positive")
    venv = ConversationVecEnv.make(env_id, num_envs=n_envs, **(env_kwargs or {}))
    venv.seed(seed)
    return VecMonitor(venv)


def inner_env(venv: VecEnv) -> ConversationVecEnv:
    """The :class:`ConversationVecEnv` under any SB3 wrappers.

    Raises:
        TypeError: if ``venv`` does not wrap a conversation env.
    """
    inner = venv.unwrapped
    if not isinstance(inner, ConversationVecEnv):
        raise TypeError(f"{type(inner).__name__} is not a lam conversation env; build it with make_vec_env()")
    return inner


@dataclass
class EnvParts:
    """The frozen pieces behind a conversation env that agents read (never modify)."""

    task: str
    action_kind: str
    backbone: Any
    world_model: Any
    samples: list
    obs_bound: float
    prompt_style: str


def env_parts(venv: VecEnv) -> EnvParts:
    """The backbone, world model, samples and settings of the env behind ``venv``."""
    setup = inner_env(venv).venv.setup
    return EnvParts(
        task=setup.task,
        action_kind=setup.action_kind,
        backbone=setup.backbone,
        world_model=setup.world_model,
        samples=setup.samples,
        obs_bound=float(setup.config.obs_bound),
        prompt_style=setup.prompt_style,
    )
