"""The registered ids: both tasks, each with a latent and a token twin, single and batched entry points.

Entry points are strings, so registering costs an import of Gymnasium only; torch, transformers and the backbone
load when an env is made.
"""

from __future__ import annotations

import gymnasium as gym

from lam_envs.tasks import TASK_REGISTRY

NAMESPACE = "lam"
VERSION = 0
TASK_NAMES: dict[str, str] = {name: spec.title for name, spec in TASK_REGISTRY.items()}
ACTION_NAMES: dict[str, str] = {"latent": "Latent", "token": "Token"}
ENTRY_POINT = "lam_envs.envs.conversation:ConversationEnv"
VECTOR_ENTRY_POINT = "lam_envs.envs.vector:ConversationVectorEnv"


def env_id(task: str, action_space: str) -> str:
    """The registered id of a task's latent or token env, e.g. ``"lam/MMRole-Latent-v0"``."""
    return f"{NAMESPACE}/{TASK_NAMES[task]}-{ACTION_NAMES[action_space]}-v{VERSION}"


ENV_IDS: tuple[str, ...] = tuple(env_id(t, a) for t in TASK_NAMES for a in ACTION_NAMES)


def register_envs() -> None:
    """Register every lam-gym id with Gymnasium (idempotent: ids already registered are left alone)."""
    for task in TASK_NAMES:
        for action_space in ACTION_NAMES:
            name = env_id(task, action_space)
            if name in gym.registry:
                continue
            gym.register(
                id=name,
                entry_point=ENTRY_POINT,
                vector_entry_point=VECTOR_ENTRY_POINT,
                kwargs={"task": task, "action_space": action_space},
            )
