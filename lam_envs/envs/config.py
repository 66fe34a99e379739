"""The settings every conversation environment takes, as one typed, validated dataclass.

Single and batched environments take the same keywords (``gym.make(id, **kwargs)`` and
``gym.make_vec(id, num_envs=N, **kwargs)``), collected here so that they are documented and validated in one place.
Variants of a task (another backbone, real data, an LLM judge, sampling, a Dict observation) are values of these
fields, never subclasses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Sequence

from lam_envs.data.prompts import PromptStyle
from lam_envs.data.types import TASKS, Sample, Split, Task

ActionKind = Literal["latent", "token"]
ACTION_KINDS: tuple[ActionKind, ...] = ("latent", "token")
ObservationMode = Literal["embedding", "dict"]
Decoding = Literal["greedy", "sample"]

DEFAULT_TOKEN_MASK_TOP_P = 0.9
"""Nucleus mass of the token envs' action mask when ``mask_top_p`` is not set (an NLPO-style default)."""


@dataclass
class ConversationConfig:
    """Keyword arguments of the conversation environments (see the env docstring's *Arguments* section)."""

    backbone: Any = None
    """Frozen VLM: a checkpoint directory (str or Path), a ``BackboneConfig``, a loaded ``Backbone`` (shared, never
    modified), or ``None`` for the embedded default (``lam_envs/assets/default/backbone``)."""
    device: str = "cpu"
    """Torch device for a backbone loaded from a directory (ignored for a ``BackboneConfig`` or ``Backbone``)."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """Dtype for a backbone loaded from a directory (ignored for a ``BackboneConfig`` or ``Backbone``)."""
    latent_model: Any = None
    """Latent envs only: the world model, as a directory written by ``LatentActionModel.save_pretrained``, a loaded
    model, or ``None`` for the embedded default (``lam_envs.latent.model.default_latent_dir()``)."""
    samples: Sequence[Sample] | None = None
    """The episodes' samples, e.g. from ``lam_envs.data.real.load_mmrole``; overrides ``dataset`` and the synthetic
    data."""
    dataset: Mapping[str, Any] | None = None
    """Keyword arguments of the task's real-data loader (``load_mmrole`` or ``load_pcogalign``) without ``split``,
    e.g. ``{"dialogues": ..., "profiles": ..., "image_root": ...}``; ``None`` uses the synthetic task."""
    split: Split | str = Split.RL
    """Which split episodes are drawn from: ``"sft"``, ``"rl"`` (default), ``"test_id"`` or ``"test_ood"``."""
    num_samples: int | None = None
    """Use only the first ``num_samples`` samples of the split (``None``: all of it)."""
    data_seed: int = 0
    """Seed of the synthetic generator or of the real loader's split shuffle (not of the episode draw)."""
    reward: Any = "rule"
    """The judge: ``"rule"`` (rule-based, synthetic data only), an ``LLMJudgeConfig`` (LLM judge endpoint), or any
    object following ``lam_envs.rewards.base.Reward``."""
    max_reply_tokens: int = 64
    """Longest reply; an episode that reaches it without EOS is truncated."""
    decoding: Decoding = "greedy"
    """Latent envs: the world model's token for the chosen code is its argmax (``"greedy"``) or sampled
    (``"sample"``, seeded from the env's ``np_random``)."""
    temperature: float = 1.0
    """Softmax temperature when ``decoding="sample"``."""
    top_k: int | None = None
    """Sample among the ``top_k`` most likely tokens only (``None``: all) when ``decoding="sample"``."""
    observation: ObservationMode = "embedding"
    """``"embedding"``: flat float32 context embedding h_t; ``"dict"``: embedding, image and reply token ids."""
    progress_feature: bool = False
    """Append the share of the reply budget already used, ``len(reply) / max_reply_tokens`` in [0, 1], to the
    embedding observation (which becomes d + 1 floats): h_t alone does not say how many tokens are left, which a
    value function of a length-limited reply needs."""
    obs_bound: float = 100.0
    """h_t is clipped to ``[-obs_bound, obs_bound]`` (a final-normed state stays far inside it; this is a guard)."""
    obs_image_size: int = 64
    """Side of the Dict observation's uint8 image (at least 64, so SB3's CNN accepts it)."""
    mask_top_p: float | None = None
    """``action_masks()`` nucleus mass: token envs mask all but the top-p set of the backbone's next-token
    distribution (default 0.9); latent envs allow every code unless this is set, then the top-p set of the policy
    prior."""
    step_penalty: float = 0.0
    """Subtracted from the reward at every step (a length penalty; off by default)."""
    truncation_penalty: float = 0.0
    """Subtracted when a reply is cut at ``max_reply_tokens`` without EOS (a format penalty; off by default)."""
    success_threshold: float = 0.9
    """``info["is_success"]`` is ``judge ratio >= success_threshold`` at the end of an episode."""
    judge_failure_reward: float | None = None
    """Reward for a reply the judge failed to score. ``None`` (default) raises ``JudgeError``: the env never invents
    a score unless told to; a float is used and the failure is flagged in ``info`` and counted."""
    prompt_style: PromptStyle | None = None
    """How samples are shown to the VLM (``"full"`` or ``"compact"``); ``None``: ``"compact"`` for the embedded
    default backbone, ``"full"`` for any other."""

    def __post_init__(self) -> None:
        self.split = Split.parse(self.split)
        if self.max_reply_tokens <= 0:
            raise ValueError(f"max_reply_tokens={self.max_reply_tokens} must be a positive number of tokens")
        if self.decoding not in ("greedy", "sample"):
            raise ValueError(f"decoding={self.decoding!r}; expected 'greedy' or 'sample'")
        if not self.temperature > 0:
            raise ValueError(f"temperature={self.temperature} must be > 0")
        if self.top_k is not None and self.top_k <= 0:
            raise ValueError(f"top_k={self.top_k} must be a positive count or None")
        if self.observation not in ("embedding", "dict"):
            raise ValueError(f"observation={self.observation!r}; expected 'embedding' or 'dict'")
        if not (math.isfinite(self.obs_bound) and self.obs_bound > 0):
            raise ValueError(f"obs_bound={self.obs_bound} must be finite and positive (Gymnasium needs finite bounds)")
        if self.obs_image_size < 64:
            raise ValueError(f"obs_image_size={self.obs_image_size} must be at least 64 pixels")
        if self.mask_top_p is not None and not 0 < self.mask_top_p <= 1:
            raise ValueError(f"mask_top_p={self.mask_top_p} must lie in (0, 1] or be None")
        if self.num_samples is not None and self.num_samples <= 0:
            raise ValueError(f"num_samples={self.num_samples} must be positive or None")
        if self.prompt_style not in (None, "full", "compact"):
            raise ValueError(f"prompt_style={self.prompt_style!r}; expected 'full', 'compact' or None")
        if isinstance(self.backbone, (str, Path)) and not str(self.backbone):
            raise ValueError("backbone='' is not a directory; pass a checkpoint directory or None for the default")


def check_task(task: str) -> Task:
    """Return ``task`` if it names a task.

    Raises:
        ValueError: naming the valid tasks.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of: {', '.join(TASKS)}")
    return task  # type: ignore[return-value]


def check_action_kind(kind: str) -> ActionKind:
    """Return ``kind`` if it is ``"latent"`` or ``"token"``.

    Raises:
        ValueError: naming the valid kinds.
    """
    if kind not in ACTION_KINDS:
        raise ValueError(f"action_space={kind!r}; expected 'latent' (codes) or 'token' (the vocabulary)")
    return kind  # type: ignore[return-value]
