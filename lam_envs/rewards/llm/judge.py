"""The LLM judge: the paper's reward, computed by a chat model behind an OpenAI-compatible endpoint.

For each (sample, reply) pair the judge model sees the context, the reference (Response A) and the reply
(Response B), and scores both from 1 to 10 on each of the task's dimensions (:mod:`lam_envs.rewards.llm.prompts`).
The result's ratio is the sum of the reply's scores over the sum of the reference's.

A turn without a reference (``sample.reference == ""``: a simulated user's turn in a dialogue episode, see
:class:`~lam_envs.rewards.llm.user.UserSimulator`) is judged against the task's rubric alone: the judge sees the
context and the reply, no reference answer, and scores the reply from 1 to 10 on each dimension (the task's
``rubric_prompt``). Its :class:`~lam_envs.rewards.base.JudgeResult` has ``reference`` = 10.0 on every dimension, the
top of the scale (there is no reference to score, and the scale's maximum is what the reply is measured against), so
the ratio is the reply's score sum over the maximum, ``sum(candidate) / (10 * n_dimensions)``, in [0.1, 1], and each
``dimension_ratios`` entry is the score over 10. This is an absolute measure where the pairwise ratio is a relative
one (1.0 there means "as good as the reference", here "perfect on every dimension"), so the two are not on the same
footing: compare rubric-judged turns with rubric-judged turns.

A pair the judge cannot score is never given a made-up number: with ``on_failure="raise"`` the batch raises
:class:`~lam_envs.rewards.base.JudgeError`; with ``on_failure="flag"`` that pair gets
:meth:`JudgeResult.failure <lam_envs.rewards.base.JudgeResult.failure>` (ratio NaN) and the cause is counted in
:attr:`LLMJudge.stats`, for the training loop to log and to mask. An env's ``judge_failure_reward`` applies to flagged
pairs, so a judge inside an env that should keep going needs ``on_failure="flag"``.

The API key is a secret, not a setting: name the environment variable that holds it (``api_key_env``, read when the
judge is built), and :meth:`LLMJudgeConfig.to_record` gives the settings without it, for run files and logs. A
literal ``api_key`` is accepted for programmatic use but never recorded or shown.

Example::

    config = LLMJudgeConfig(base_url="http://localhost:8000/v1", model="Qwen2.5-72B-Instruct",
                            api_key_env="JUDGE_API_KEY", on_failure="flag")
    judge = LLMJudge("mmrole", config)
    results = judge.score(samples, replies)
    logger.info("judge stats: %s", judge.stats.snapshot())
"""

from __future__ import annotations

import difflib
import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Mapping, Sequence

import numpy as np

from lam_envs.data.types import ImageLoadError, Sample, Task
from lam_envs.rewards.base import DIMENSIONS, JudgeError, JudgeResult
from lam_envs.rewards.llm.checks import check_endpoint, key_from_env
from lam_envs.rewards.llm.client import ChatClient, ChatError, JudgeStats
from lam_envs.rewards.llm.parsing import SCORE_MAX, ParseError, parse_pair_scores, parse_rubric_scores
from lam_envs.rewards.llm.prompts import (
    build_messages,
    build_rubric_messages,
    correction_messages,
    image_data_url,
    rubric_correction_messages,
)
from lam_envs.tasks import task_spec

logger = logging.getLogger(__name__)


API_KEY_NOT_STORED = "api_key_not_stored"
"""Record key marking a judge given a literal ``api_key`` (never stored); see :meth:`LLMJudgeConfig.to_record`."""


@dataclass(frozen=True)
class LLMJudgeConfig:
    """Settings of an :class:`LLMJudge`. Validated on construction; errors name the field and never show a key."""

    base_url: str
    """Endpoint root including the API version, e.g. ``"http://localhost:8000/v1"``."""
    model: str
    """Judge model name sent with every request."""
    api_key: str | None = field(default=None, repr=False)
    """Bearer token given directly (programmatic use). Never recorded, logged or shown; prefer ``api_key_env``."""
    api_key_env: str | None = None
    """Name of the environment variable holding the bearer token, read when the judge is built (e.g.
    ``"JUDGE_API_KEY"``). This name, not the key, is what run files record."""
    timeout_s: float = 60.0
    """Socket timeout in seconds for connecting and for each read of a response."""
    deadline_s: float = 300.0
    """Wall-clock limit in seconds of one judge request: connecting, sending, all reads and all retries (backoff
    included). Bounds a server that drips its answer or keeps failing; a parse re-ask is a new request."""
    max_retries: int = 3
    """Retries of a request after a transient failure (429, 5xx, timeout, connection error)."""
    backoff_base_s: float = 1.0
    """First backoff cap in seconds; it doubles with each retry (with jitter) up to ``backoff_max_s``."""
    backoff_max_s: float = 30.0
    """Largest backoff cap in seconds."""
    concurrency: int = 8
    """Pairs judged in parallel (worker threads, i.e. requests in flight)."""
    temperature: float = 0.0
    """Judge sampling temperature (0 for the most repeatable scores)."""
    max_tokens: int = 512
    """Answer length limit; the JSON answer needs about 40 tokens per dimension and response."""
    on_failure: Literal["raise", "flag"] = "raise"
    """``"raise"``: a failed pair raises JudgeError; ``"flag"``: it gets a failed JudgeResult (ratio NaN), which an
    env with ``judge_failure_reward`` rewards with that value."""
    seed: int = 0
    """Seed of the backoff jitter."""
    max_parse_retries: int = 2
    """Re-asks (with the reason) after an answer with malformed JSON, a missing dimension or an out-of-range score."""
    retry_after_max_s: float = 120.0
    """Longest server ``Retry-After`` honoured; a longer one fails the request instead of stalling training."""
    image_max_side: int | None = 1024
    """Images are downscaled to at most this many pixels on the longer side before sending (None: as is)."""
    image_format: Literal["JPEG", "PNG"] = "JPEG"
    """Encoding of the image data URL."""

    def __post_init__(self) -> None:
        # The key is never put into a message: only its type.
        if self.api_key is not None and not isinstance(self.api_key, str):
            raise ValueError(f"api_key must be a string or None, got a {type(self.api_key).__name__}")
        if self.api_key is not None and self.api_key_env is not None:
            raise ValueError("pass api_key or api_key_env, not both (api_key_env is the one a run can record)")
        check_endpoint(self, "the judge model", "JUDGE_API_KEY",
                       {"max_retries": (self.max_retries, 0), "max_parse_retries": (self.max_parse_retries, 0),
                        "concurrency": (self.concurrency, 1), "max_tokens": (self.max_tokens, 1)})
        if self.on_failure not in ("raise", "flag"):
            raise ValueError(f"on_failure must be 'raise' or 'flag', got {self.on_failure!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    def resolved_api_key(self) -> str | None:
        """The bearer token: ``api_key``, else the value of the variable ``api_key_env`` names, else ``None``.

        Raises:
            ValueError: if ``api_key_env`` names a variable that is not set or is empty.
        """
        if self.api_key_env is None:
            return self.api_key
        return key_from_env(self.api_key_env, "the judge's key", "the judge")

    def to_record(self) -> dict[str, Any]:
        """The settings as a JSON-safe dict for run files and logs, without any secret.

        ``api_key_env`` (a name) is kept; a literal ``api_key`` is left out, and ``"api_key_not_stored"`` says that
        one was given and how to supply it when the judge is rebuilt (:meth:`from_record`).
        """
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "api_key"}
        if self.api_key is not None:
            record[API_KEY_NOT_STORED] = (
                "this judge was given a literal api_key, which is never stored; to rebuild it, put the key in an "
                "environment variable and pass its name as api_key_env"
            )
        return record

    @classmethod
    def from_record(
        cls, record: Mapping[str, Any], api_key_env: str | None = None, require_key: bool = True
    ) -> LLMJudgeConfig:
        """Rebuild a config from :meth:`to_record`'s dict (or from user JSON with the same keys).

        Args:
            record: the settings; ``base_url`` and ``model`` are required, the other fields have defaults.
            api_key_env: the environment variable holding the key, overriding the record's.
            require_key: whether a record of a judge that had a literal (unstored) key must get ``api_key_env``
                (pass ``False`` where the judge will never send a request).

        Returns:
            The config; the key itself is read from the environment only when an :class:`LLMJudge` is built.

        Raises:
            ValueError: for a record that is not a mapping, holds an ``api_key``, has unknown or missing keys, bad
                values, or needs ``api_key_env`` and has none. Messages name the key, never a value that may be a key.
        """
        if not isinstance(record, Mapping):
            raise ValueError(
                f"LLM judge settings must be an object of LLMJudgeConfig fields, got a {type(record).__name__}"
            )
        data = dict(record)
        not_stored = data.pop(API_KEY_NOT_STORED, None) is not None
        if "api_key" in data:
            raise ValueError(
                "LLM judge settings must not contain api_key (it would be written to run files and shell history); "
                "put the key in an environment variable and set api_key_env to its name, e.g. "
                '"api_key_env": "JUDGE_API_KEY"'
            )
        names = [f.name for f in fields(cls) if f.name != "api_key"]
        unknown = [str(k) for k in data if k not in names]
        if unknown:
            hints = [f"{k!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(k, names, 1)) else
                     repr(k) for k in unknown]
            raise ValueError(f"unknown LLM judge setting(s) {', '.join(hints)}; the settings are: {', '.join(names)}")
        missing = [k for k in ("base_url", "model") if k not in data]
        if missing:
            raise ValueError(f"LLM judge settings need {' and '.join(missing)}, e.g. "
                             '{"base_url": "http://localhost:8000/v1", "model": "Qwen2.5-72B-Instruct"}')
        if api_key_env is not None:
            data["api_key_env"] = api_key_env
        if not_stored and data.get("api_key_env") is None and require_key:
            raise ValueError(
                "this LLM judge was given a literal api_key, which runs never store; put the key in an environment "
                "variable and pass its name as api_key_env (`lam eval --judge-api-key-env NAME`)"
            )
        return cls(**data)


_ABORTED = "aborted"  # cause of pairs skipped in "raise" mode once another pair failed (never reported)


@dataclass(frozen=True)
class _PairFailure:
    """Why one pair could not be scored."""

    cause: str
    message: str


class LLMJudge:
    """Reward that asks an LLM to score replies against references, pairwise, on the task's dimensions.

    Implements :class:`~lam_envs.rewards.base.Reward`. A sample without a reference (``reference == ""``) is scored
    against the rubric alone; its result's ``reference`` is the scale's maximum (10.0) on every dimension, so its
    ratio is the reply's score sum over ``10 * len(dimensions)`` (see the module docstring).

    Args:
        task: ``"mmrole"`` or ``"pcogalign"`` (picks the rubric and the dimensions).
        config: endpoint, retry, concurrency and failure settings.

    Attributes:
        task: the task this judge scores.
        dimensions: the dimensions it reports, in order.
        config: its settings.
        stats: counters of pairs, HTTP calls, retries and failures by cause (thread-safe; ``stats.snapshot()``).

    Raises:
        ValueError: if ``task`` is unknown, or ``config.api_key_env`` names an unset environment variable.
    """

    def __init__(self, task: Task, config: LLMJudgeConfig) -> None:
        task_spec(task)  # the registry's error names the registered tasks
        self.task: Task = task
        self.dimensions: tuple[str, ...] = DIMENSIONS[task]
        self.config = config
        self.stats = JudgeStats()
        self._client = ChatClient.for_config(config, self.stats)
        # One child seed sequence per judged pair, spawned in submission order: the jitter schedule of each request
        # is reproducible whatever order the worker threads run in.
        self._seeds = np.random.SeedSequence(config.seed)
        self._seed_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LLMJudge(task={self.task!r}, config={self.config!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_seed_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._seed_lock = threading.Lock()

    def score(self, samples: Sequence[Sample], replies: Sequence[str]) -> list[JudgeResult]:
        """Judge ``replies[i]`` as the answer to ``samples[i]``, ``config.concurrency`` pairs at a time.

        Args:
            samples: the turns answered (all of this judge's task).
            replies: the candidate replies, one per sample.

        Returns:
            One result per pair, in input order; with ``on_failure="flag"``, failed pairs are
            ``JudgeResult.failure(reason)``.

        Raises:
            ValueError: if the lengths differ, a sample belongs to another task, or a sample has no reference and the
                task's registry entry no ``rubric_prompt`` to judge it with.
            JudgeError: with ``on_failure="raise"``, when a pair cannot be scored (names the sample id and cause).
        """
        if len(samples) != len(replies):
            raise ValueError(f"got {len(samples)} samples but {len(replies)} replies; pass one reply per sample")
        spec = task_spec(self.task)
        for sample in samples:
            if sample.task != self.task:
                raise ValueError(f"sample {sample.id!r} is a {sample.task!r} sample; this judge scores {self.task!r}")
            if sample.reference == "" and spec.rubric_prompt is None:
                spec.rubric_prompt_for(sample, "")  # raises the ValueError that names the sample and the fix
        n = len(samples)
        if n == 0:
            return []
        self.stats.add_pairs(n)
        with self._seed_lock:
            seeds = self._seeds.spawn(n)
        images = self._encode_images(samples)

        outcomes: list[JudgeResult | _PairFailure | None] = [None] * n
        # Set by the first failing pair in "raise" mode, so that workers stop sending requests for a batch that is
        # going to raise anyway.
        abort = threading.Event() if self.config.on_failure == "raise" else None
        with ThreadPoolExecutor(max_workers=min(self.config.concurrency, n), thread_name_prefix="llm-judge") as pool:
            futures: dict[Future[JudgeResult | _PairFailure], int] = {
                pool.submit(self._judge_pair, samples[i], replies[i], images[samples[i].id], seeds[i], abort): i
                for i in range(n)
            }
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    i = futures[future]
                    outcome = future.result()  # _judge_pair returns failures; an exception here is a bug: propagate
                    outcomes[i] = outcome
                    if isinstance(outcome, _PairFailure) and abort is not None:
                        if outcome.cause == _ABORTED:
                            continue  # skipped because another pair failed; that pair's error is the one raised
                        # Requests not yet sent are dropped; the pool still waits for those in flight, so no
                        # thread outlives the call.
                        for other in pending:
                            other.cancel()
                        self.stats.add_failure(outcome.cause)
                        raise JudgeError(
                            f"LLM judge failed on sample {samples[i].id!r} ({outcome.cause}): {outcome.message} "
                            "(to score such replies with a fixed reward instead, set on_failure='flag' in the "
                            "LLMJudgeConfig and judge_failure_reward=<float> on the env)"
                        )

        results: list[JudgeResult] = []
        for i, outcome in enumerate(outcomes):
            if isinstance(outcome, _PairFailure):
                self.stats.add_failure(outcome.cause)
                logger.warning("LLM judge failed on sample %r (%s): %s", samples[i].id, outcome.cause, outcome.message)
                results.append(JudgeResult.failure(f"{outcome.cause}: {outcome.message}"))
            else:
                assert outcome is not None  # every future completed without raising
                results.append(outcome)
        return results

    def _encode_images(self, samples: Sequence[Sample]) -> dict[str, str | _PairFailure]:
        """Each distinct sample's image as a data URL, encoded once per batch (a GRPO group shares one sample)."""
        urls: dict[str, str | _PairFailure] = {}
        for sample in samples:
            if sample.id in urls:
                continue
            try:
                urls[sample.id] = image_data_url(
                    sample.image.load(), max_side=self.config.image_max_side, fmt=self.config.image_format
                )
            except ImageLoadError as exc:
                urls[sample.id] = _PairFailure("image", str(exc))
        return urls

    def _judge_pair(
        self,
        sample: Sample,
        reply: str,
        image: str | _PairFailure,
        seed: np.random.SeedSequence,
        abort: threading.Event | None,
    ) -> JudgeResult | _PairFailure:
        """Score one pair; failures are returned, not raised, and set ``abort`` (when given)."""
        if abort is not None and abort.is_set():
            return _PairFailure(_ABORTED, "skipped after another pair of the batch failed")
        outcome = self._request_scores(sample, reply, image, seed)
        if isinstance(outcome, _PairFailure) and abort is not None:
            abort.set()
        return outcome

    def _request_scores(
        self, sample: Sample, reply: str, image: str | _PairFailure, seed: np.random.SeedSequence
    ) -> JudgeResult | _PairFailure:
        """Request, parse, and re-ask on an unusable answer; a sample without a reference is judged on the rubric."""
        if isinstance(image, _PairFailure):
            return image
        rng = np.random.default_rng(seed)
        rubric = sample.reference == ""
        messages = (build_rubric_messages if rubric else build_messages)(sample, reply, image)
        correction = rubric_correction_messages if rubric else correction_messages
        cfg = self.config
        for attempt in range(cfg.max_parse_retries + 1):
            try:
                answer = self._client.complete(messages, rng, temperature=cfg.temperature, max_tokens=cfg.max_tokens)
            except ChatError as err:
                return _PairFailure(err.cause, str(err))
            try:
                if rubric:
                    candidate = parse_rubric_scores(answer, self.dimensions)
                    # No reference to score: the ratio's denominator is the top of the scale on every dimension.
                    return JudgeResult(candidate=candidate, reference=dict.fromkeys(self.dimensions, SCORE_MAX))
                scores = parse_pair_scores(answer, self.dimensions)
            except ParseError as err:
                if attempt == cfg.max_parse_retries:
                    tries = f" (after {attempt + 1} answers)" if attempt else ""
                    return _PairFailure(err.cause, f"{err}{tries}")
                logger.info("unusable judge answer for sample %r (%s); asking again", sample.id, err)
                self.stats.add_retry(err.cause)
                messages = messages[:2] + correction(answer, str(err))
                continue
            return JudgeResult(candidate=scores.b, reference=scores.a)
        raise AssertionError("unreachable: the loop returns on its last attempt")
