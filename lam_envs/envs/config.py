"""The settings every conversation environment takes, as one typed, validated dataclass.

Single and batched environments take the same keywords (``gym.make(id, **kwargs)`` and
``gym.make_vec(id, num_envs=N, **kwargs)``), collected here so that they are documented and validated in one place.
Variants of a task (another backbone, real data, an LLM judge, sampling, a Dict observation) are values of these
fields, never subclasses.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from lam_envs.data.prompts import PromptStyle
from lam_envs.data.types import Sample, Split, Task

ActionKind = Literal["latent", "token"]
ACTION_KINDS: tuple[ActionKind, ...] = ("latent", "token")
ObservationMode = Literal["embedding", "dict"]
Decoding = Literal["greedy", "sample"]

DEFAULT_TOKEN_MASK_TOP_P = 0.9
"""Nucleus mass of the token envs' action mask when ``mask_top_p`` is not set (an NLPO-style default)."""
MAX_REPLY_TOKENS = 32_768
"""Longest ``max_reply_tokens`` accepted (the backbone's context limit is checked when a step would exceed it)."""
MAX_OBS_IMAGE_SIZE = 1024
"""Largest Dict-observation image side accepted (1024² RGB is already 3 MB per row per step)."""
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 1e3
"""Sampling temperatures outside this range overflow float32 logits or are uniform noise."""
LATENT_ONLY: dict[str, Any] = {"decoding": "greedy", "temperature": 1.0, "top_k": None}
"""Latent-only settings and their defaults: a token env rejects any other value (see ``check_action_kind``)."""


# ---------------------------------------------------------------------------------------------------- field checks
# Every field of ConversationConfig names one of these in its metadata; __post_init__ runs them all, so a setting
# without a check cannot be added by accident (tests/envs/test_validation.py pins it). Wrong types raise TypeError,
# out-of-range values ValueError; both name the parameter, the bad value and what to pass instead.


def _is_int(value: Any) -> bool:
    # bool is an int subclass; True for a count is a bug, not a 1.
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _a(value: Any) -> str:
    kind = type(value).__name__
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _is_real(value: Any) -> bool:
    return _is_int(value) or isinstance(value, (float, np.floating))


@dataclass(frozen=True)
class Int:
    """An int (never a bool, a float or a string) in ``[low, high]``; ``None`` too when ``optional``."""

    low: int | None = None
    high: int | None = None
    optional: bool = False
    hint: str = ""

    def __call__(self, name: str, value: Any) -> int | None:
        if value is None and self.optional:
            return None
        if not _is_int(value):
            raise TypeError(f"{name}={value!r} is {_a(value)}; pass an int{self._range()}{self._none()}{self.hint}")
        value = int(value)
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ValueError(f"{name}={value} is out of range; pass an int{self._range()}{self.hint}")
        return value

    def _none(self) -> str:
        return " or None" if self.optional else ""

    def _range(self) -> str:
        if self.low is not None and self.high is not None:
            return f" in [{self.low}, {self.high}]"
        if self.low is not None:
            return f" >= {self.low}"
        return f" <= {self.high}" if self.high is not None else ""


@dataclass(frozen=True)
class Float:
    """A finite real number (an int is accepted, a bool or a string is not) within the given bounds."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    hint: str = ""

    def __call__(self, name: str, value: Any) -> float | None:
        if value is None and self.optional:
            return None
        if not _is_real(value):
            raise TypeError(f"{name}={value!r} is {_a(value)}; pass a float{self._range()}{self._none()}{self.hint}")
        value = float(value)
        low_bad = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        high_bad = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if not math.isfinite(value) or low_bad or high_bad:
            raise ValueError(f"{name}={value} is out of range; pass a finite float{self._range()}{self.hint}")
        return value

    def _none(self) -> str:
        return " or None" if self.optional else ""

    def _range(self) -> str:
        lo = "" if self.low is None else f"{'(' if self.low_open else '['}{self.low:g}"
        hi = "" if self.high is None else f"{self.high:g}{')' if self.high_open else ']'}"
        if lo and hi:
            return f" in {lo}, {hi}"
        if lo:
            return f" {'>' if self.low_open else '>='} {self.low:g}"
        return f" {'<' if self.high_open else '<='} {self.high:g}" if hi else ""


@dataclass(frozen=True)
class Choice:
    """One of a closed set of strings (``None`` too when ``optional``)."""

    options: tuple[str, ...]
    optional: bool = False

    def __call__(self, name: str, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if not isinstance(value, str) or value not in self.options:
            expected = ", ".join(repr(o) for o in self.options) + (" or None" if self.optional else "")
            raise ValueError(f"{name}={value!r}; expected one of: {expected}")
        return value


def _path_or_object(what: str):
    """A directory (non-empty str or PathLike), ``None`` for the embedded default, or a loaded object (its kind is
    checked where it is resolved, see ``resolve.py``)."""

    def check(name: str, value: Any) -> Any:
        if isinstance(value, (str, os.PathLike)) and not str(value).strip():
            raise ValueError(f"{name}={value!r} is not a directory; pass a directory or None for the default")
        if isinstance(value, (bool, int, float, np.number, bytes)):
            raise TypeError(f"{name}={value!r} is {_a(value)}; pass {what}")
        return value

    return check


def _device(name: str, value: Any) -> str:
    import torch

    if not isinstance(value, str):
        raise TypeError(f"{name}={value!r} is {_a(value)}; pass a torch device string such as 'cpu'")
    try:
        device = torch.device(value)
    except RuntimeError:
        raise ValueError(f"{name}={value!r} is not a torch device; pass e.g. 'cpu', 'cuda' or 'cuda:0'") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name}={value!r} but CUDA is not available on this machine; pass device='cpu'")
        if device.index is not None and device.index >= count:
            raise ValueError(f"{name}={value!r} but this machine has {count} CUDA device(s); pass 'cuda:0'..")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name}={value!r} but MPS is not available on this machine; pass device='cpu'")
    return value


def _samples(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name}={value!r:.80} is {_a(value)}; pass a list of Sample objects or None")
    for i, sample in enumerate(value):
        if not isinstance(sample, Sample):
            raise TypeError(
                f"{name}[{i}]={sample!r:.80} is {_a(sample)}; pass lam_envs.data.types.Sample objects "
                "(e.g. from lam_envs.data.real.load_mmrole)"
            )
    return value


def _mapping(name: str, value: Any) -> Any:
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{name}={value!r:.80} is {_a(value)}; pass a dict of the loader's keywords")
    return value


def _split(name: str, value: Any) -> Split:
    names = ", ".join(repr(s.value) for s in Split)
    if not isinstance(value, (str, Split)):
        raise TypeError(f"{name}={value!r} is {_a(value)}; pass one of: {names}")
    try:
        return Split.parse(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a split; expected one of: {names}") from None


def _reward(name: str, value: Any) -> Any:
    # Never echo a string or container here: it may be a judge's key pasted into the wrong place.
    if isinstance(value, str) and value != "rule":
        raise ValueError(f"{name} is a string other than 'rule'; pass 'rule', an LLMJudgeConfig or a Reward object")
    if value is None or isinstance(value, (bool, int, float, np.number)):
        raise TypeError(f"{name}={value!r} is not a judge; pass 'rule', an LLMJudgeConfig or a Reward object")
    return value


def _user_simulator(name: str, value: Any) -> Any:
    if value is None or callable(getattr(value, "next_turn", None)):
        return value
    from lam_envs.rewards.llm import UserSimulatorConfig

    if isinstance(value, UserSimulatorConfig):
        return value
    raise TypeError(f"{name} of type {type(value).__name__} is not a simulated user; pass None, a "
                    "UserSimulatorConfig or an object with next_turn(sample, reply, seed) -> str")


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r} is {_a(value)}; pass True or False")
    return bool(value)


DEFAULT_SIMULATED_TURNS = 3
"""Exchanges of a dialogue episode with a simulated user when ``max_turns`` is not set."""


def checked(default: Any, check: Any) -> Any:
    """A dataclass field with ``default`` whose value ``check(name, value)`` validates (and normalises)."""
    return field(default=default, metadata={"check": check})


_BACKBONE = _path_or_object("a checkpoint directory, a BackboneConfig, a Backbone or None")
_LATENT_MODEL = _path_or_object("a latent model directory, a LatentActionModel or None")
_TEMPERATURE = Float(MIN_TEMPERATURE, MAX_TEMPERATURE, hint="; decoding='greedy' is the zero-temperature limit")
_PENALTY = Float(low=0.0, hint=" (it is subtracted from the reward; 0 turns it off)")
_THRESHOLD = Float(low=0.0, high=10.0, hint=" (a judge ratio; 1.0 = as good as the reference)")
_TOP_P = Float(low=0.0, high=1.0, low_open=True, optional=True)


@dataclass
class ConversationConfig:
    """Keyword arguments of the conversation environments (see the env docstring's *Arguments* section)."""

    backbone: Any = checked(None, _BACKBONE)
    """Frozen VLM: a checkpoint directory (str or Path), a ``BackboneConfig``, a loaded ``Backbone`` (shared, never
    modified), or ``None`` for the embedded default (``lam_envs/assets/default/backbone``)."""
    device: str = checked("cpu", _device)
    """Torch device for a backbone loaded from a directory (ignored for a ``BackboneConfig`` or ``Backbone``)."""
    dtype: Literal["float32", "bfloat16"] = checked("float32", Choice(("float32", "bfloat16")))
    """Dtype for a backbone loaded from a directory (ignored for a ``BackboneConfig`` or ``Backbone``)."""
    latent_model: Any = checked(None, _LATENT_MODEL)
    """Latent envs only: the world model, as a directory written by ``LatentActionModel.save_pretrained``, a loaded
    model, or ``None`` for the embedded default (``lam_envs.latent.model.default_latent_dir()``)."""
    samples: Sequence[Sample] | None = checked(None, _samples)
    """The episodes' samples, e.g. from ``lam_envs.data.real.load_mmrole``; overrides ``dataset`` and the synthetic
    data."""
    dataset: Mapping[str, Any] | None = checked(None, _mapping)
    """Keyword arguments of the task's real-data loader (``load_mmrole`` or ``load_pcogalign``) without ``split``,
    e.g. ``{"dialogues": ..., "profiles": ..., "image_root": ...}``; ``None`` uses the synthetic task."""
    split: Split | str = checked(Split.RL, _split)
    """Which split episodes are drawn from: ``"sft"``, ``"rl"`` (default), ``"test_id"`` or ``"test_ood"``."""
    num_samples: int | None = checked(None, Int(low=1, optional=True))
    """Use only the first ``num_samples`` samples of the split (``None``: all of it)."""
    data_seed: int = checked(0, Int(low=0))
    """Seed of the synthetic generator or of the real loader's split shuffle (not of the episode draw)."""
    reward: Any = checked("rule", _reward)
    """The judge: ``"rule"`` (rule-based, synthetic data only), an ``LLMJudgeConfig`` (LLM judge endpoint), or any
    object following ``lam_envs.rewards.base.Reward``."""
    max_reply_tokens: int = checked(64, Int(low=1, high=MAX_REPLY_TOKENS))
    """Longest reply; an episode that reaches it without EOS is truncated."""
    decoding: Decoding = checked("greedy", Choice(("greedy", "sample")))
    """Latent envs: the world model's token for the chosen code is its argmax (``"greedy"``) or sampled
    (``"sample"``, seeded from the env's ``np_random``)."""
    temperature: float = checked(1.0, _TEMPERATURE)
    """Softmax temperature when ``decoding="sample"``."""
    top_k: int | None = checked(None, Int(low=1, optional=True))
    """Sample among the ``top_k`` most likely tokens only (``None``: all) when ``decoding="sample"``."""
    observation: ObservationMode = checked("embedding", Choice(("embedding", "dict")))
    """``"embedding"``: flat float32 context embedding h_t; ``"dict"``: embedding, image and reply token ids."""
    progress_feature: bool = checked(False, _flag)
    """Append the share of the reply budget already used, ``len(reply) / max_reply_tokens`` in [0, 1], to the
    embedding observation (which becomes d + 1 floats): h_t alone does not say how many tokens are left, which a
    value function of a length-limited reply needs."""
    obs_bound: float = checked(100.0, Float(low=0.0, low_open=True, hint=" (Gymnasium needs finite bounds)"))
    """h_t is clipped to ``[-obs_bound, obs_bound]`` (a final-normed state stays far inside it; this is a guard)."""
    obs_image_size: int = checked(64, Int(low=64, high=MAX_OBS_IMAGE_SIZE, hint=" pixels"))
    """Side of the Dict observation's uint8 image (at least 64, so SB3's CNN accepts it)."""
    mask_top_p: float | None = checked(None, _TOP_P)
    """``action_masks()`` nucleus mass: token envs mask all but the top-p set of the backbone's next-token
    distribution (default 0.9); latent envs allow every code unless this is set, then the top-p set of the policy
    prior."""
    step_penalty: float = checked(0.0, _PENALTY)
    """Subtracted from the reward at every step (a length penalty; off by default)."""
    truncation_penalty: float = checked(0.0, _PENALTY)
    """Subtracted when a reply is cut at ``max_reply_tokens`` without EOS (a format penalty; off by default)."""
    dialogue: bool = checked(False, _flag)
    """Whole-dialogue episodes: an episode is a conversation about one image, the agent answers each user turn in
    order and each reply is judged when it ends (see :mod:`lam_envs.data.dialogue`). ``False``: one reply."""
    max_turns: int | None = checked(None, Int(low=1, optional=True))
    """Dialogue episodes: answer at most this many user turns (``None``: all of the dialogue's; with a
    ``user_simulator``, :data:`DEFAULT_SIMULATED_TURNS`)."""
    user_simulator: Any = checked(None, _user_simulator)
    """Dialogue episodes: a simulated user (a ``UserSimulatorConfig`` for an OpenAI-compatible endpoint, or any object
    with ``next_turn(sample, reply, seed) -> str``) writes the user's next turn once the dialogue's own turns run out,
    up to ``max_turns`` exchanges. Its turns have no reference: the judge scores them against the turn's rubric, so it
    needs an LLM judge. ``None``: the dialogue ends with its own last turn."""
    success_threshold: float = checked(0.9, _THRESHOLD)
    """``info["is_success"]`` is ``judge ratio >= success_threshold`` at the end of an episode."""
    judge_failure_reward: float | None = checked(None, Float(optional=True, hint=" (None raises JudgeError instead)"))
    """Reward for a reply the judge failed to score. ``None`` (default) raises ``JudgeError``: the env never invents
    a score unless told to; a float is used and the failure is flagged in ``info`` and counted."""
    prompt_style: PromptStyle | None = checked(None, Choice(("full", "compact"), optional=True))
    """How samples are shown to the VLM (``"full"`` or ``"compact"``); ``None``: ``"compact"`` for the embedded
    default backbone, ``"full"`` for any other."""

    def __post_init__(self) -> None:
        # Each field's own check (see its metadata); values are normalised (np.int64 -> int, "rl" -> Split.RL).
        for f in fields(self):
            setattr(self, f.name, f.metadata["check"](f.name, getattr(self, f.name)))
        if self.user_simulator is not None and not self.dialogue:
            raise ValueError("user_simulator is set but dialogue=False; a simulated user needs dialogue episodes "
                             "(dialogue=True, or a lam/<Task>-Dialogue-<Kind>-v0 id)")
        if self.user_simulator is not None and isinstance(self.reward, str):
            raise ValueError("a simulated user's turns have no reference and the rule judges need one; pass "
                             "reward=LLMJudgeConfig(...), which scores such turns against the rubric")

    def check_action_kind(self, kind: ActionKind) -> None:
        """Reject latent-only sampling settings given to a token env, where they would silently do nothing.

        ``latent_model`` is accepted (and unused) by token envs, so that one set of keywords builds both twins.

        Raises:
            ValueError: naming the setting and the fix.
        """
        if kind != "token":
            return
        for name, default in LATENT_ONLY.items():
            value = getattr(self, name)
            if value != default:
                raise ValueError(
                    f"{name}={value!r} only applies to latent envs (how the world model's token is chosen); a token "
                    "env's action is the token itself. Drop it, or use the latent twin (action_space='latent')"
                )


def check_task(task: str) -> Task:
    """Return ``task`` if it names a task.

    Raises:
        ValueError: naming the valid tasks.
    """
    from lam_envs.tasks import task_spec

    task_spec(task)  # the registry's error names the registered tasks
    return task  # type: ignore[return-value]


def check_action_kind(kind: str) -> ActionKind:
    """Return ``kind`` if it is ``"latent"`` or ``"token"``.

    Raises:
        ValueError: naming the valid kinds.
    """
    if kind not in ACTION_KINDS:
        raise ValueError(f"action_space={kind!r}; expected 'latent' (codes) or 'token' (the vocabulary)")
    return kind  # type: ignore[return-value]
