"""Gymnasium environments: latent and token twins of the MMRole and PCogAlign conversation tasks.

``import lam_envs`` registers the ids (see :mod:`lam_envs.envs.registration`); the env classes load lazily::

    import gymnasium as gym
    import lam_envs  # noqa: F401  (registers lam/*)

    env = gym.make("lam/MMRole-Latent-v0")
    envs = gym.make_vec("lam/MMRole-Latent-v0", num_envs=32)   # one backbone call per step for all 32

* :class:`~lam_envs.envs.conversation.ConversationEnv`: the single env (one class for every id; the variants are
  keywords, see :class:`~lam_envs.envs.config.ConversationConfig`).
* :class:`~lam_envs.envs.vector.ConversationVectorEnv`: the batched Gymnasium vector env.
* :class:`~lam_agents.vec_env.ConversationVecEnv` (in lam_agents, since lam_envs never imports SB3): the same batch
  as a Stable-Baselines3 ``VecEnv``.
"""

from __future__ import annotations

from lam_envs.envs.registration import ENV_IDS, env_id, register_envs

DYNAMICS_VERSION = 2
"""Bumped whenever a change alters what an episode returns for the same actions and seed (rewards, ends,
observations), so that stored results made before it are not mixed with new ones. 2: a reply cut at the length limit
is ``terminated``, no longer ``truncated``."""

__all__ = ["DYNAMICS_VERSION", "ENV_IDS", "env_id", "register_envs"]
