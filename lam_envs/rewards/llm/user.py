"""The simulated user: a chat model behind an OpenAI-compatible endpoint writes the user's next turn.

A dialogue episode (:mod:`lam_envs.data.dialogue`) can go on past the turns its data holds: after the agent answers,
the simulated user reads the conversation (the persona or situation the task's prompt shows, the image if
``send_image``, the dialogue ending with the agent's reply) and writes what the user says next. Such a turn has no
reference, so the judge scores the reply to it against the task's rubric (see :mod:`lam_envs.rewards.llm.judge`).

The prompts are the tasks' (``user_prompt`` in :mod:`lam_envs.tasks`, written in :mod:`lam_envs.rewards.llm.prompts`):
MMRole's user is the human chatting with the character about the image, PCogAlign's the person in the situation with
their role set.

Requests go through the judge's :class:`~lam_envs.rewards.llm.client.ChatClient`, so they have the same per-request
deadline, retries with backoff and key scrubbing. Each turn is seeded: the caller's ``seed`` is sent as the request's
``seed`` (reproducible where the server honours it) and seeds the backoff jitter. A turn that cannot be had (HTTP
errors after the retries, a timeout, an unreadable image, an empty or over-long answer) raises
:class:`UserSimulatorError`, whose message names the cause and the fix; it is never replaced by a made-up turn.

The API key is read from the environment variable ``api_key_env`` names when the simulator is built; it is sent only
in the ``Authorization`` header, never stored in the config, its record or a log.

Example::

    config = UserSimulatorConfig(base_url="http://localhost:8000/v1", model="Qwen2.5-72B-Instruct",
                                 api_key_env="USER_SIM_API_KEY")
    user = UserSimulator(config)
    next_text = user.next_turn(sample, reply, seed=1234)
"""

from __future__ import annotations

import difflib
import logging
import numbers
from dataclasses import dataclass, fields
from typing import Any, Literal, Mapping

import numpy as np

from lam_envs.data.types import ImageLoadError, Sample
from lam_envs.rewards.llm.client import ChatClient, ChatError, JudgeStats
from lam_envs.rewards.llm.checks import check_endpoint, key_from_env
from lam_envs.rewards.llm.prompts import build_user_messages, image_data_url

logger = logging.getLogger(__name__)

MAX_SEED = 2**63 - 1
"""Largest ``seed`` sent (servers read OpenAI's ``seed`` as a signed 64-bit integer)."""


@dataclass(frozen=True)
class UserSimulatorConfig:
    """Settings of a :class:`UserSimulator`. Validated on construction; errors name the field and the fix."""

    base_url: str
    """Endpoint root including the API version, e.g. ``"http://localhost:8000/v1"`` (the judge's may be reused)."""
    model: str
    """User model name sent with every request."""
    api_key_env: str | None = None
    """Name of the environment variable holding the bearer token, read when the simulator is built (e.g.
    ``"USER_SIM_API_KEY"``); ``None`` sends no key. The key itself is never stored, recorded or logged."""
    timeout_s: float = 60.0
    """Socket timeout in seconds for connecting and for each read of a response."""
    deadline_s: float = 120.0
    """Wall-clock limit in seconds of one turn's request: connecting, sending, all reads and all retries (backoff
    included)."""
    max_retries: int = 3
    """Retries of a request after a transient failure (429, 5xx, timeout, connection error)."""
    backoff_base_s: float = 1.0
    """First backoff cap in seconds; it doubles with each retry (with jitter) up to ``backoff_max_s``."""
    backoff_max_s: float = 30.0
    """Largest backoff cap in seconds."""
    retry_after_max_s: float = 120.0
    """Longest server ``Retry-After`` honoured; a longer one fails the turn instead of stalling training."""
    temperature: float = 0.7
    """Sampling temperature: above 0 so that users vary across episodes; the per-turn ``seed`` makes a turn
    repeatable where the server honours it."""
    max_tokens: int = 256
    """Length limit of the answer in tokens."""
    max_chars: int = 800
    """Longest turn accepted, in characters; a longer answer fails as ``over_long``. Kept below what ``max_tokens``
    allows, so that a model that runs to the token limit fails visibly rather than returning a turn cut short."""
    send_image: bool = True
    """Show the user model the image (as the judge does); ``False`` for a text-only model, which then knows the
    scene only from the persona and the dialogue."""
    image_max_side: int | None = 1024
    """Images are downscaled to at most this many pixels on the longer side before sending (None: as is)."""
    image_format: Literal["JPEG", "PNG"] = "JPEG"
    """Encoding of the image data URL."""

    def __post_init__(self) -> None:
        check_endpoint(self, "the user model", "USER_SIM_API_KEY",
                       {"max_retries": (self.max_retries, 0), "max_tokens": (self.max_tokens, 1),
                        "max_chars": (self.max_chars, 1)})
        if not isinstance(self.send_image, bool):
            raise ValueError(f"send_image must be True or False, got {self.send_image!r}")

    def resolved_api_key(self) -> str | None:
        """The bearer token: the value of the variable ``api_key_env`` names, or ``None`` when it names none.

        Raises:
            ValueError: if ``api_key_env`` names a variable that is not set or is empty.
        """
        if self.api_key_env is None:
            return None
        return key_from_env(self.api_key_env, "the user model's key", "the simulator")

    def to_record(self) -> dict[str, Any]:
        """The settings as a JSON-safe dict for run files and logs (it holds no secret: the key is never stored)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> UserSimulatorConfig:
        """Rebuild a config from :meth:`to_record`'s dict (or from user JSON with the same keys).

        Raises:
            ValueError: for a record that is not a mapping, holds an ``api_key``, has unknown or missing keys, or bad
                values. Messages name the key, never a value that may be a key.
        """
        if not isinstance(record, Mapping):
            raise ValueError(
                f"simulated user settings must be an object of UserSimulatorConfig fields, got a "
                f"{type(record).__name__}"
            )
        if "api_key" in record:
            raise ValueError(
                "simulated user settings must not contain api_key (it would be written to run files and shell "
                'history); put the key in an environment variable and set api_key_env to its name, e.g. '
                '"api_key_env": "USER_SIM_API_KEY"'
            )
        names = [f.name for f in fields(cls)]
        unknown = [str(k) for k in record if k not in names]
        if unknown:
            hints = [f"{k!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(k, names, 1)) else
                     repr(k) for k in unknown]
            raise ValueError(
                f"unknown simulated user setting(s) {', '.join(hints)}; the settings are: {', '.join(names)}"
            )
        missing = [k for k in ("base_url", "model") if k not in record]
        if missing:
            raise ValueError(f"simulated user settings need {' and '.join(missing)}, e.g. "
                             '{"base_url": "http://localhost:8000/v1", "model": "Qwen2.5-72B-Instruct"}')
        return cls(**record)


class UserSimulatorError(RuntimeError):
    """The simulated user could not write a turn.

    Attributes:
        cause: what failed: a request failure's category (``"timeout"``, ``"connection"``, ``"rate_limited"``,
            ``"server_error"``, ``"http_error"``, ``"bad_response"``, the last one also for an empty answer),
            ``"image"`` (the sample's image could not be read) or ``"over_long"`` (an answer over ``max_chars``).
    """

    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause


_FIXES: dict[str, str] = {
    "timeout": "raise deadline_s (or timeout_s) of the UserSimulatorConfig for a slower server, or check the server",
    "connection": "check that the server at base_url is running and reachable from here",
    "rate_limited": "the server kept refusing for load; raise max_retries or backoff_max_s, or lower the request rate",
    "server_error": "the server kept failing; check its logs, or raise max_retries to ride out short outages",
    "http_error": "check base_url, model and api_key_env of the UserSimulatorConfig",
    "bad_response": "check that base_url serves OpenAI chat completions for this model, and that max_tokens leaves "
    "room for an answer",
    "image": "fix the sample's image, or set send_image=False for a user model that does not need it",
    "over_long": "raise max_chars if turns this long are fine, or use a user model that follows the prompt's "
    "length (one to three sentences)",
}


class UserSimulator:
    """Writes the user's next turn of a dialogue with a chat model, on the task's user prompt.

    Args:
        config: endpoint, retry, sampling and image settings.

    Attributes:
        config: its settings.
        stats: counters of turns asked for (``pairs``), HTTP calls, retries and failures by cause (thread-safe;
            ``stats.snapshot()``), the judge's :class:`~lam_envs.rewards.llm.client.JudgeStats`.

    Raises:
        ValueError: if ``config.api_key_env`` names an unset environment variable.
    """

    def __init__(self, config: UserSimulatorConfig) -> None:
        self.config = config
        self.stats = JudgeStats()
        self._client = ChatClient.for_config(config, self.stats)

    def __repr__(self) -> str:
        return f"UserSimulator(config={self.config!r})"

    def next_turn(self, sample: Sample, reply: str, seed: int) -> str:
        """The user's next message after the agent's ``reply`` to ``sample``.

        Args:
            sample: the turn the agent answered: its dialogue ends with the user turn ``reply`` answers (e.g.
                :func:`~lam_envs.data.dialogue.turn_sample`'s view); its task picks the prompt.
            reply: the agent's reply to it.
            seed: sent as the request's ``seed`` (reproducible where the server honours it) and seeding the retry
                jitter; an integer in ``[0, 2**63 - 1]``.

        Returns:
            The user's message, stripped of surrounding whitespace.

        Raises:
            UserSimulatorError: when no turn can be had (see :class:`UserSimulatorError`); the message names the
                sample, the cause and the fix, and never holds the key.
            ValueError: if ``seed`` is not such an integer, or the task has no ``user_prompt``.
            TypeError: if the sample's persona does not match its task.
        """
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer in [0, 2**63 - 1], got {seed!r}")
        seed = int(seed)  # a numpy integer (from an env's np_random) is not JSON
        cfg = self.config
        self.stats.add_pairs(1)
        image_url = None
        if cfg.send_image:
            try:
                image_url = image_data_url(sample.image.load(), max_side=cfg.image_max_side, fmt=cfg.image_format)
            except ImageLoadError as exc:
                raise self._failure(sample, "image", str(exc)) from None
        messages = build_user_messages(sample, reply, image_url)
        try:
            answer = self._client.complete(
                messages, np.random.default_rng(seed), temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                seed=seed,
            )
        except ChatError as err:  # already scrubbed of the key by the client
            raise self._failure(sample, err.cause, str(err)) from None
        text = answer.strip()  # the client refuses an empty or all-whitespace answer (bad_response)
        if len(text) > cfg.max_chars:
            raise self._failure(
                sample, "over_long", f"the answer has {len(text)} characters, more than max_chars={cfg.max_chars} "
                f"(it starts {text[:80]!r})",
            )
        return text

    def _failure(self, sample: Sample, cause: str, message: str) -> UserSimulatorError:
        self.stats.add_failure(cause)
        return UserSimulatorError(
            cause, f"simulated user failed on sample {sample.id!r} ({cause}): {message}; fix: {_FIXES[cause]}"
        )
