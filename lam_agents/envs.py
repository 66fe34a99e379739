"""Building the SB3-facing vectorised conversation envs (the SB3 adapter is :mod:`lam_agents.vec_env`)."""

from __future__ import annotations

import sys
from typing import Any, Sequence

import lam_envs  # noqa: F401  (registers the lam/ ids)
from lam_agents.vec_env import ConversationVecEnv
from lam_envs.envs.setup import EnvParts
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

    Both offer agents the same surface: ``task``, ``action_kind``, ``num_envs``, ``num_samples``,
    ``max_reply_tokens``, ``parts`` and SB3's ``set_options`` (which a wrapper would keep for itself).

    Raises:
        TypeError: if ``venv`` does not wrap a conversation env.
    """
    inner = venv.unwrapped
    if not isinstance(inner, ConversationVecEnv) and not _is_ray(inner):
        raise TypeError(f"{type(inner).__name__} is not a lam conversation env; build it with make_vec_env()")
    return inner


def env_parts(venv: VecEnv) -> EnvParts:
    """``inner_env(venv).parts``: the frozen backbone, world model and samples behind ``venv`` (see
    :class:`~lam_envs.envs.setup.EnvParts`; behind Ray workers they are loaded once more in this process)."""
    return inner_env(venv).parts


def pin_rows(venv: VecEnv, samples: Sequence[int]) -> None:
    """Pin row i of ``venv``'s next reset to sample ``samples[i]``, with autoreset off until the reset after it: each
    row writes one episode on its sample and then waits (see :class:`~lam_envs.envs.vector.ConversationVectorEnv`),
    so no new episode is prefilled, drawn or judged for a row whose later steps the caller ignores (a GRPO group, an
    evaluation)."""
    inner_env(venv).set_options([{"sample_index": int(s), "autoreset": False} for s in samples])
