"""Building the SB3-facing vectorised conversation envs (the SB3 adapter is :mod:`lam_agents.vec_env`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

import lam_envs  # noqa: F401  (registers the lam/ ids)
from lam_agents.vec_env import ConversationVecEnv
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

__all__ = ["ConversationVecEnv", "EnvParts", "EnvSettingsError", "env_parts", "inner_env", "make_vec_env"]


class EnvSettingsError(ValueError):
    """The env id, ``n_envs`` or ``workers`` given to :func:`make_vec_env` cannot work (the message names the fix)."""


def make_vec_env(env_id: str, n_envs: int, seed: int, env_kwargs: dict[str, Any] | None = None, *,
                 workers: int = 1, ray_settings: Any = None) -> VecEnv:
    """A seeded, monitored SB3 vector env of ``n_envs`` rows of the registered ``env_id``.

    Args:
        env_id: A registered id, e.g. ``"lam/MMRole-Latent-v0"``.
        n_envs: Rows decoded together (one backbone call per step for all of them), in total over the workers.
        seed: Row i draws its episodes from ``seed + i`` (whatever the number of workers).
        env_kwargs: Keywords of :class:`lam_envs.envs.config.ConversationConfig` (backbone, split, ...).
        workers: 1 builds the env in this process; K > 1 starts K Ray rollout workers of ``n_envs / K`` rows each
            (see :mod:`lam_agents.ray_workers`).
        ray_settings: A :class:`lam_agents.ray_workers.RaySettings` for K > 1 (``None``: a local Ray, 1 CPU each).

    Returns:
        A :class:`VecMonitor` over a :class:`ConversationVecEnv` or a :class:`~lam_agents.ray_workers.RayVecEnv`
        (the monitor fills SB3's episode statistics).

    Raises:
        EnvSettingsError: for an unknown id, a non-positive ``n_envs`` or ``workers``, or ``n_envs`` not a multiple
            of ``workers``.
    """
    if env_id not in lam_envs.ENV_IDS:
        raise EnvSettingsError(f"unknown env id {env_id!r}; expected one of: {', '.join(lam_envs.ENV_IDS)}")
    if n_envs <= 0:
        raise EnvSettingsError(f"n_envs={n_envs} must be positive")
    if workers <= 0 or n_envs % workers:
        raise EnvSettingsError(f"n_envs={n_envs} must be a positive multiple of workers={workers} (each worker holds "
                         "n_envs / workers rows); change --n-envs or --workers")
    venv: VecEnv
    if workers == 1:
        venv = ConversationVecEnv.make(env_id, num_envs=n_envs, **(env_kwargs or {}))
    else:
        from lam_agents.ray_workers import RaySettings, RayVecEnv

        venv = RayVecEnv(env_id, workers, n_envs // workers, env_kwargs, ray_settings or RaySettings())
    venv.seed(seed)
    return VecMonitor(venv)


def _is_ray(inner: Any) -> bool:
    module = sys.modules.get("lam_agents.ray_workers")  # only loaded when workers were started
    return module is not None and isinstance(inner, module.RayVecEnv)


def inner_env(venv: VecEnv) -> ConversationVecEnv:
    """The :class:`ConversationVecEnv` (or Ray rollout-worker facade) under any SB3 wrappers.

    Raises:
        TypeError: if ``venv`` does not wrap a conversation env.
    """
    inner = venv.unwrapped
    if not isinstance(inner, ConversationVecEnv) and not _is_ray(inner):
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
    max_reply_tokens: int


def env_parts(venv: VecEnv) -> EnvParts:
    """The backbone, world model, samples and settings of the env behind ``venv``.

    Behind Ray rollout workers the frozen pieces are loaded once more in this process, read-only, on first use (the
    fair start copies the prior or LM head from them); the workers' own copies never leave them.
    """
    inner = inner_env(venv)
    if _is_ray(inner):
        if inner._parts is None:
            from lam_envs.envs.config import ConversationConfig, check_action_kind, check_task
            from lam_envs.envs.core import Setup

            spec = gym.spec(inner.env_id)
            kwargs = {**spec.kwargs, **inner.env_kwargs}
            task, kind = check_task(kwargs.pop("task")), check_action_kind(kwargs.pop("action_space"))
            kwargs.pop("render_mode", None)
            setup = Setup.build(task, kind, ConversationConfig(**kwargs))
            inner._parts = _parts_of(setup)
        return inner._parts
    return _parts_of(inner.venv.setup)


def _parts_of(setup: Any) -> EnvParts:
    return EnvParts(
        task=setup.task,
        action_kind=setup.action_kind,
        backbone=setup.backbone,
        world_model=setup.world_model,
        samples=setup.samples,
        obs_bound=float(setup.config.obs_bound),
        prompt_style=setup.prompt_style,
        max_reply_tokens=int(setup.config.max_reply_tokens),
    )
