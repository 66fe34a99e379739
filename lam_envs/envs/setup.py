"""What an env's dynamics read, resolved once from its keywords (:class:`Setup`), and the part of it agents may read
(:class:`EnvParts`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Sequence

from lam_envs.backbone import Backbone
from lam_envs.data.dialogue import DialogueScript, dialogue_scripts
from lam_envs.data.types import Sample, Task
from lam_envs.envs.config import DEFAULT_SIMULATED_TURNS, ActionKind, ConversationConfig
from lam_envs.envs.resolve import (
    resolve_backbone,
    resolve_reward,
    resolve_samples,
    resolve_user_simulator,
    resolve_world_model,
)
from lam_envs.latent.protocol import WorldModel
from lam_envs.rewards.base import Reward


@dataclass(frozen=True)
class EnvParts:
    """What agents may read of a conversation env: its frozen models, its samples and its reply limit.

    The public surface of :class:`~lam_envs.envs.conversation.ConversationEnv` and
    :class:`~lam_envs.envs.vector.ConversationVectorEnv` (``env.parts``) and of the SB3 and Ray adapters in
    ``lam_agents``; agents read these instead of the env's internals and never modify them.
    """

    task: Task
    """The task's registry name."""
    action_kind: ActionKind
    """``"latent"`` (actions are codes) or ``"token"`` (actions are token ids)."""
    backbone: Backbone
    """The frozen VLM."""
    world_model: WorldModel | None
    """The latent action model (latent envs), else ``None``."""
    samples: tuple[Sample, ...]
    """The prompts the env draws its episodes from (``options["sample_index"]`` indexes them)."""
    max_reply_tokens: int
    """The reply limit: a reply is cut (and judged) after this many tokens."""


class AgentSurface:
    """What agents read of an env, single or batched: ``parts``, ``num_samples`` and ``max_reply_tokens`` (with the
    env's own ``task`` and ``action_kind``). ``setup`` and ``config`` (and a vector env's ``batch``) are the env's
    internals, which agents do not read."""

    setup: Setup
    config: ConversationConfig

    @functools.cached_property
    def parts(self) -> EnvParts:
        """The frozen models, samples and reply limit behind this env, for agents to read (see :class:`EnvParts`)."""
        return self.setup.parts

    @property
    def num_samples(self) -> int:
        """The number of prompts the env draws from (``options["sample_index"]`` lies in ``[0, num_samples)``)."""
        return len(self.setup.samples)

    @property
    def max_reply_tokens(self) -> int:
        """The reply limit (a reply is cut, judged and its episode ended after this many tokens)."""
        return int(self.config.max_reply_tokens)


@dataclass
class Setup:
    """Everything an env's dynamics read, resolved once from its keywords (shared by the batch's rows)."""

    task: Task
    action_kind: ActionKind
    config: ConversationConfig
    backbone: Backbone
    world_model: WorldModel | None
    samples: list[Sample]
    reward: Reward | None
    """The judge (``None``: a setup for :func:`write_replies` only, see :meth:`for_decoding`)."""
    prompt_style: str
    scripts: list[DialogueScript] | None = None
    """Dialogue episodes: each sample's script (see :mod:`lam_envs.data.dialogue`); ``None``: one reply each."""
    user: Any = None
    """Dialogue episodes: the simulated user that continues a dialogue past its script (``None``: none)."""
    num_actions: int = field(init=False)

    def __post_init__(self) -> None:
        if self.action_kind == "latent":
            assert self.world_model is not None
            self.num_actions = int(self.world_model.config.num_codes)
        else:
            self.num_actions = self.backbone.vocab_size

    @staticmethod
    def _models(action_kind: ActionKind, config: ConversationConfig) -> tuple[Backbone, WorldModel | None, str]:
        """The backbone and world model named by ``config`` (loaded or reused) and the prompt style they are shown."""
        config.check_action_kind(action_kind)
        backbone, is_default = resolve_backbone(config)
        world_model = resolve_world_model(config.latent_model, backbone) if action_kind == "latent" else None
        return backbone, world_model, config.prompt_style or ("compact" if is_default else "full")

    @classmethod
    def build(cls, task: Task, action_kind: ActionKind, config: ConversationConfig) -> Setup:
        """Load (or reuse) the backbone, world model, samples and judge named by ``config``."""
        backbone, world_model, style = cls._models(action_kind, config)
        samples = resolve_samples(task, config)
        return cls(
            task=task,
            action_kind=action_kind,
            config=config,
            backbone=backbone,
            world_model=world_model,
            samples=samples,
            reward=resolve_reward(task, config.reward, config.judge_failure_reward),
            prompt_style=style,
            scripts=dialogue_scripts(samples, config.data_seed) if config.dialogue else None,
            user=resolve_user_simulator(config.user_simulator),
        )

    def num_exchanges(self, index: int) -> int:
        """How many replies an episode on sample ``index`` holds (1 unless dialogue episodes)."""
        if self.scripts is None:
            return 1
        limit = self.config.max_turns
        if self.user is not None:
            return limit if limit is not None else max(len(self.scripts[index]), DEFAULT_SIMULATED_TURNS)
        return min(len(self.scripts[index]), limit if limit is not None else len(self.scripts[index]))

    @classmethod
    def for_decoding(
        cls, task: Task, action_kind: ActionKind, config: ConversationConfig, samples: Sequence[Sample] = ()
    ) -> Setup:
        """The models named by ``config`` without its split's samples or judge: for writing replies with
        :func:`write_replies` (chat, reports), which never judges. ``samples`` are the prompts to answer."""
        backbone, world_model, style = cls._models(action_kind, config)
        return cls(task, action_kind, config, backbone, world_model, list(samples), None, style)

    @property
    def parts(self) -> EnvParts:
        """The agent-facing view of this setup (see :class:`EnvParts`)."""
        return EnvParts(self.task, self.action_kind, self.backbone, self.world_model, tuple(self.samples),
                        int(self.config.max_reply_tokens))
