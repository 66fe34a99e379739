"""The registered ids: both tasks, each with a latent and a token twin, in single-reply and whole-dialogue episodes
(``lam/<Task>-Dialogue-<Kind>-v0``, the same env class with ``dialogue=True``), single and batched entry points.

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


def env_id(task: str, action_space: str, dialogue: bool = False) -> str:
    """The registered id of a task's latent or token env, e.g. ``"lam/MMRole-Latent-v0"`` or, for whole-dialogue
    episodes, ``"lam/MMRole-Dialogue-Latent-v0"``."""
    mode = "Dialogue-" if dialogue else ""
    return f"{NAMESPACE}/{TASK_NAMES[task]}-{mode}{ACTION_NAMES[action_space]}-v{VERSION}"


REPLY_ENV_IDS: tuple[str, ...] = tuple(env_id(t, a) for t in TASK_NAMES for a in ACTION_NAMES)
"""The single-reply ids (an episode is one reply)."""
DIALOGUE_ENV_IDS: tuple[str, ...] = tuple(env_id(t, a, dialogue=True) for t in TASK_NAMES for a in ACTION_NAMES)
"""The whole-dialogue ids (an episode is a conversation)."""
ENV_IDS: tuple[str, ...] = REPLY_ENV_IDS + DIALOGUE_ENV_IDS


def register_envs() -> None:
    """Register every lam-gym id with Gymnasium (idempotent: ids already registered are left alone)."""
    for dialogue in (False, True):
        for task in TASK_NAMES:
            for action_space in ACTION_NAMES:
                name = env_id(task, action_space, dialogue)
                if name in gym.registry:
                    continue
                kwargs: dict[str, object] = {"task": task, "action_space": action_space}
                if dialogue:
                    kwargs["dialogue"] = True
                gym.register(id=name, entry_point=ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT, kwargs=kwargs)
