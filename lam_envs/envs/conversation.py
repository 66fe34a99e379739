"""The conversation environment: one reply to one multimodal sample per episode, one token per step."""

from __future__ import annotations

import logging
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import EzPickle

from lam_envs.envs import render as rendering
from lam_envs.data.types import Sample
from lam_envs.envs.config import ConversationConfig, check_action_kind, check_task
from lam_envs.envs.dynamics import ReplyBatch
from lam_envs.envs.setup import AgentSurface, Setup
from lam_envs.envs.spaces import observation_space, reset_info, row_observation, step_info

logger = logging.getLogger(__name__)

SEED_HIGH = 2**63 - 1
RESET_OPTIONS = ("sample_index",)


def check_options(options: Any, known: tuple[str, ...]) -> dict[str, Any]:
    """``reset``'s ``options`` as a dict, with every key one of ``known``.

    Raises:
        TypeError: if ``options`` is not a dict (or ``None``).
        ValueError: naming an unknown key and the known ones.
    """
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options={options!r} is a {type(options).__name__}; pass a dict such as {{'sample_index': 0}}")
    unknown = sorted(str(k) for k in options if k not in known)
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}; this env takes: {', '.join(known)}")
    return options


class ConversationEnv(AgentSurface, gym.Env, EzPickle):
    """## Description

    An RL environment over the replies of a frozen vision-language model (VLM) in a multimodal conversation, after
    Li et al., *Controlling Multimodal Conversational Agents with Coverage-Enhanced Latent Actions* (arXiv
    2601.07516). Each episode is one reply: the agent sees an image and a dialogue (an MMRole character's role-play,
    or a PCogAlign user's situated question) and writes the answer one token per step. A judge scores the reply
    against the sample's reference at the end.

    The *latent* variant acts over a small learned codebook: each action is a code, and the latent action model's
    world model turns (context embedding, code) into the next token through the VLM's own LM head. The *token*
    variant acts on the vocabulary directly, with the same samples, backbone and judge, so the two action spaces
    can be compared fairly.

    ## Action Space

    ``Discrete(K)`` for latent envs (K = the latent model's ``num_codes``, 128 by default): the code for this
    token. ``Discrete(V)`` for token envs (V = the backbone's LM-head size): the token itself.
    :meth:`action_masks` gives a MaskablePPO mask: the top-p set of the backbone's own next-token distribution in
    token envs (an NLPO-style baseline), all codes (or the policy prior's top-p set) in latent envs.

    ## Observation Space

    Default: ``Box(-obs_bound, obs_bound, (d,), float32)``, the context embedding h_t (the VLM's last-layer,
    final-normed hidden state at the last token, which summarises the image, the dialogue and the reply so far),
    clipped to ``obs_bound`` (100 by default; a final-normed state stays well inside it). With
    ``observation="dict"``: ``{"embedding": that Box, "image": Box(0, 255, (S, S, 3), uint8),
    "reply_ids": Box(0, V-1, (max_reply_tokens,), int64) padded with the pad id, "reply_length": Box(0,
    max_reply_tokens, (1,), int64)}``. With ``progress_feature=True`` the embedding gets one more float,
    ``len(reply) / max_reply_tokens`` in [0, 1] (bounds ``[-obs_bound]*d + [0]`` to ``[obs_bound]*d + [1]``): how
    much of the reply budget is used, which h_t does not say and a value function needs.

    ## Rewards

    At the end of the episode, the judge's score ratio: sum of the reply's scores over the sum of the reference's
    (1.0 = as good as the reference) on the task's dimensions (8 for MMRole, 5 for PCogAlign). Optional per-step
    terms, off by default: ``-step_penalty`` every step and ``-truncation_penalty`` for a reply cut at the length
    limit. A judge failure raises ``JudgeError`` unless ``judge_failure_reward`` is set. A judge's output is checked
    (one result per reply, finite scores, a positive reference sum); a violation is a judge failure.

    ## Starting State

    ``reset`` draws a sample uniformly from the split with the env's ``np_random``; ``options={"sample_index": i}``
    pins sample i (group rollouts, evaluation). The backbone prefills the image and the dialogue; the observation
    is h at the assistant's generation prompt.

    ## Episode End

    Terminated when the emitted token is the backbone's EOS token, or when the reply reaches ``max_reply_tokens``
    tokens (64 by default) without EOS: a reply cut at the limit is judged as it stands and ``info["cut_at_limit"]``
    is True. The env never sets ``truncated``: nothing follows a judged reply, so an algorithm that bootstraps a
    value past a truncation (SB3 does, for ``TimeLimit.truncated``) would pay the cut reply its judged reward *plus*
    the value of a next state that does not exist, and learn to run replies into the limit.

    An exception inside ``step`` or ``reset`` (a ``JudgeError``, an image that fails to load, a backbone error)
    ends the episode too: the env changes nothing half-way and refuses to step (``RuntimeError`` naming the cause)
    until ``reset`` succeeds. Invalid actions raise ``ValueError`` and change nothing.

    ## Info

    Every step: ``sample_id`` (str), ``sample_index`` (int), ``token`` (int, the emitted token), ``reply`` (str,
    the reply so far; the full reply at the end), ``reply_tokens`` (int). At the end also: ``judge_ratio`` (float,
    NaN if the judge failed), ``judge_scores`` and ``reference_scores`` (dimension -> 0..10), ``dimension_ratios``
    (dimension -> float), ``judge_failed`` (bool), ``judge_error`` (str, empty if none), ``reward_terms`` (dict
    of the reward's parts), ``cut_at_limit`` (bool) and ``is_success`` (bool, ``judge_ratio >= success_threshold``). ``reset`` gives
    ``sample_id``, ``sample_index`` and an empty ``reply``. The batched env adds ``reset_error`` (str) for a row
    whose autoreset failed (see :class:`~lam_envs.envs.vector.ConversationVectorEnv`).

    ## Arguments

    ``task`` (``"mmrole"`` or ``"pcogalign"``), ``action_space`` (``"latent"`` or ``"token"``), ``render_mode``
    (``None``, ``"ansi"`` or ``"rgb_array"``), and every field of
    :class:`~lam_envs.envs.config.ConversationConfig` as a keyword: ``backbone`` (checkpoint directory, default the
    embedded tiny Qwen2.5-VL), ``device``, ``dtype``, ``latent_model`` (directory, default the embedded one),
    ``samples`` / ``dataset`` (real data: a list of samples or the loader's keywords), ``split`` (``"rl"`` by
    default), ``num_samples``, ``data_seed``, ``reward`` (``"rule"``, an ``LLMJudgeConfig`` or any ``Reward``),
    ``max_reply_tokens``, ``decoding`` / ``temperature`` / ``top_k`` (latent token choice), ``observation``,
    ``progress_feature``, ``obs_bound``, ``obs_image_size``, ``mask_top_p``, ``step_penalty``, ``truncation_penalty``,
    ``success_threshold``, ``judge_failure_reward`` and ``prompt_style``. Each is checked on construction (type,
    finiteness, range), with an error that names it; ``decoding``, ``temperature`` and ``top_k`` apply to latent envs
    only and a token env rejects them (``latent_model`` is accepted and unused, so one set of keywords builds both
    twins)::

        env = gym.make("lam/MMRole-Latent-v0")                       # embedded default, synthetic RL split
        env = gym.make("lam/PCogAlign-Token-v0", backbone="ckpt/Qwen2.5-VL-3B-Instruct", device="cuda",
                       dataset={"train": ..., "test_id": ..., "test_ood": ..., "image_root": ...},
                       split="test_ood", reward=LLMJudgeConfig(base_url=..., model=...))

    What agents read of a built env (``env.unwrapped``): ``task``, ``action_kind``, ``num_samples``,
    ``max_reply_tokens`` and ``parts`` (the frozen backbone, world model and samples, an
    :class:`~lam_envs.envs.setup.EnvParts`), the names the batched env and its SB3 and Ray adapters offer too.

    ## Registered Configurations

    * ``lam/MMRole-Latent-v0``: MMRole role-play, actions are latent codes.
    * ``lam/MMRole-Token-v0``: MMRole role-play, actions are tokens.
    * ``lam/PCogAlign-Latent-v0``: PCogAlign situated answers, actions are latent codes.
    * ``lam/PCogAlign-Token-v0``: PCogAlign situated answers, actions are tokens.

    Each has a batched twin: ``gym.make_vec(id, num_envs=N)`` gives a
    :class:`~lam_envs.envs.vector.ConversationVectorEnv` (one backbone call per step for all N).

    ## Version History

    * v0: initial version (embedded tiny Qwen2.5-VL, synthetic tasks, rule judges, K = 128 codes).
      Later added, off by default so v0's observations are unchanged: ``progress_feature``.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self, task: str = "mmrole", action_space: str = "latent", render_mode: str | None = None, **kwargs: Any
    ) -> None:
        EzPickle.__init__(self, task, action_space, render_mode, **kwargs)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r}; expected None or one of {self.metadata['render_modes']}")
        self.task = check_task(task)
        self.action_kind = check_action_kind(action_space)
        self.render_mode = render_mode
        self.config = ConversationConfig(**kwargs)
        self.setup = Setup.build(self.task, self.action_kind, self.config)
        self._batch = ReplyBatch(self.setup, 1)
        self.action_space = spaces.Discrete(self.setup.num_actions)
        self.observation_space = observation_space(self.setup)
        self._episode_over = True
        self._started = False

    # ------------------------------------------------------------------------------------------------ properties
    @property
    def sample(self):
        """The sample of the current episode."""
        return self._batch.sample(0)

    @property
    def turn_sample(self) -> Sample:
        """What the agent is answering now, as the judge will see it: the sample, or in a dialogue episode the current
        exchange, its dialogue holding the agent's own earlier replies (``.query`` is the user turn to answer)."""
        return self._batch.turn_sample(0)

    @property
    def reply(self) -> str:
        """The reply so far."""
        return self._batch.reply_text(0)

    @property
    def judge_failures(self) -> int:
        """Replies the judge failed to score so far (counted when ``judge_failure_reward`` is set)."""
        return self._batch.judge_failures

    # ------------------------------------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Start a new reply to a drawn (or pinned) sample.

        Args:
            seed: Seeds the env's ``np_random`` (sample draws and sampled decoding).
            options: ``{"sample_index": i}`` pins sample i.

        Returns:
            The first observation and the reset info.

        Raises:
            ValueError: for an unknown option or a sample index out of range.
            Exception: whatever building the first context raised (e.g. ``ImageLoadError``); the env then refuses to
                step until a reset succeeds.
        """
        pinned = check_options(options, RESET_OPTIONS).get("sample_index")
        super().reset(seed=seed)
        self._episode_over = True  # until the new episode has started: a failed reset leaves nothing to step
        index = self._batch.draw_index(self.np_random, pinned)
        decode_seed = int(self.np_random.integers(SEED_HIGH))
        self._batch.begin([0], [index], [decode_seed])
        self._episode_over = False
        self._started = True
        return row_observation(self._batch, 0), reset_info(self._batch, 0)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Emit one token for ``action`` and advance the reply.

        Raises:
            RuntimeError: if called before ``reset``, after the episode ended, or after an exception in ``step`` or
                ``reset`` (the message names it).
            ValueError: for an invalid action (nothing changes).
        """
        why = self._batch.broken[0]
        if why is not None:
            raise RuntimeError(
                f"this env stopped at an exception ({why}) and refuses to step on a half-finished episode; call "
                "reset() to start a new one"
            )
        if self._episode_over:
            raise RuntimeError("the episode is over (or never started); call reset() before step()")
        result = self._batch.step(self._action_array(action))
        terminated = bool(result.terminated[0])
        self._episode_over = terminated
        info = step_info(self._batch, 0, result)
        return row_observation(self._batch, 0), float(result.rewards[0]), terminated, False, info

    def _action_array(self, action: Any) -> np.ndarray:
        array = np.asarray(action)
        if array.shape not in ((), (1,)) or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"action={action!r} must be one integer in [0, {self.setup.num_actions}) (an element of "
                f"{self.action_space}), e.g. env.action_space.sample()"
            )
        return array.reshape(1)

    def action_masks(self) -> np.ndarray:
        """(num_actions,) bool mask for MaskablePPO (see the class docstring's *Action Space*)."""
        if not self._started:
            raise RuntimeError("call reset() before action_masks()")
        return self._batch.action_masks()[0]

    def render(self) -> str | np.ndarray | None:
        """The transcript (``"ansi"``) or a frame with the scene, persona and reply (``"rgb_array"``)."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        if not self._started:
            raise RuntimeError("call reset() before render()")
        if self.render_mode == "ansi":
            return rendering.transcript(self.sample, self.reply, finished=self._episode_over)
        return rendering.frame(self.sample, self.reply)

    def close(self) -> None:
        """Drop the decode state (the shared backbone stays loaded for other envs)."""
        self._batch.state = None
        self._started = False
        self._episode_over = True
