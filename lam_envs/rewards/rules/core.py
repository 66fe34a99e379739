"""Machinery shared by the rule-based judges: lexicon scoring, anti-hacking multipliers, batching and caching.

A rule judge turns each text (the candidate or the sample's reference) into :class:`TextFeatures`, then scores every
dimension from the candidate's features *and* the reference's (credit saturates at what the reference achieves, so
stuffing more persona words than a good reply uses earns nothing). A shared multiplier (length window, degenerate
repetition, fluency gate, lexicon stuffing, signature-phrase repeats, fact stuffing) then scales every dimension,
because a judge reading a four-times-too-long, repetitive or word-salad reply marks it down on everything, not on one
axis.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from typing import Generic, Iterable, Protocol, Sequence, TypeVar

from lam_envs.data.synthetic.questions import content_words
from lam_envs.data.types import Sample, Task
from lam_envs.rewards.base import DIMENSIONS, JudgeResult
from lam_envs.rewards.rules.facts import SCENE_WORDS, FactCheck, scene_slots
from lam_envs.rewards.rules.text import (
    FUNCTION_WORDS,
    Phrases,
    TextStats,
    fluency_gate,
    length_factor,
    repetition_factor,
    text_bigrams,
    text_vocabulary,
)

logger = logging.getLogger(__name__)

_CONTEXT_CACHE_SIZE = 4096
_QUERY_STOPWORDS = FUNCTION_WORDS | frozenset(
    "see think tell look picture image photo here there what whats about please can could really".split()
)


def query_keywords(text: str) -> frozenset[str]:
    """Content words of a user turn (what an on-topic reply is expected to pick up)."""
    return frozenset(w for w in TextStats(text).tokens if len(w) > 2 and w not in _QUERY_STOPWORDS)


@dataclass(frozen=True)
class Lexicon:
    """A persona's own phrases and everyone else's, for one judged aspect (e.g. personality).

    Attributes:
        own: phrases that credit the reply.
        others: phrases of other personas that count against it.
    """

    own: Phrases
    others: Phrases

    @classmethod
    def of(cls, own: Iterable[str], others: Iterable[str]) -> Lexicon:
        own_p = Phrases.of(own)
        # A phrase both personas use says nothing about who speaks: it credits, never penalises.
        others_p = Phrases.of(others).without(own_p)
        return cls(own_p, others_p)


@dataclass(frozen=True)
class LexiconHits:
    """How a text uses a :class:`Lexicon`.

    Attributes:
        own: distinct own phrases used.
        others: distinct phrases of other personas used.
        own_tokens: tokens covered by own phrases, repeats included (for stuffing density).
    """

    own: int
    others: int
    own_tokens: int

    @classmethod
    def of(cls, lexicon: Lexicon, stats: TextStats) -> LexiconHits:
        hits = lexicon.own.hits(stats)
        return cls(len(hits), lexicon.others.distinct(stats), sum(n * len(k.split()) for k, n in hits.items()))


def lexicon_quality(cand: LexiconHits, ref: LexiconHits, *, cap: int = 2, penalty: float = 0.5) -> float:
    """Saturating own-lexicon credit minus a penalty per distinct phrase of another persona, in ``[0, 1]``.

    Credit is full at ``min(cap, reference's hits)`` distinct phrases (at least one).
    """
    need = max(1, min(cap, ref.own))
    return max(0.0, min(cand.own, need) / need - penalty * cand.others)


def fact_quality(cand: FactCheck, ref: FactCheck, *, cap: int = 3) -> float:
    """Precision-weighted credit for true scene claims: coverage x precision squared, in ``[0, 1]``.

    Coverage is full at ``min(cap, reference's true claims)`` distinct true claims (at least one); precision is
    squared so that a list of every colour and shape (mostly false claims) scores near zero.
    """
    need = max(1, min(cap, ref.n_true))
    return min(cand.n_true, need) / need * cand.precision**2


def stuffing_factor(density: float, density_ref: float, *, floor: float = 0.25) -> float:
    """Multiplier for persona-word stuffing: 1 up to ``max(floor, 1.3 x the reference's density)``, then falls."""
    threshold = max(floor, 1.3 * density_ref)
    if density <= threshold:
        return 1.0
    return max(0.1, 1.0 - 2.5 * (density - threshold))


def repeat_factor(count: int, count_ref: int, allowed: int = 1) -> float:
    """Multiplier for a signature phrase (catchphrase, role name) said more than ``max(allowed, reference's
    count)`` times: each extra use divides the credit by a further 0.6."""
    excess = count - max(allowed, count_ref)
    return 1.0 if excess <= 0 else 1.0 / (1.0 + 0.6 * excess)


def false_fact_factor(n_false: int, n_false_ref: int) -> float:
    """Multiplier for many false scene claims (a list of everything): -12% per false claim beyond one."""
    excess = n_false - max(1, n_false_ref)
    return 1.0 if excess <= 0 else max(0.2, 1.0 - 0.12 * excess)


class TextFeatures(Protocol):
    """What every judge's per-text features hold, for the shared multiplier (each judge adds its task's own)."""

    @property
    def stats(self) -> TextStats: ...

    @property
    def fluency(self) -> float: ...

    @property
    def facts(self) -> FactCheck: ...

    @property
    def density(self) -> float:
        """Share of tokens that are the task's persona or situation words."""
        ...

    @property
    def signature(self) -> int:
        """Uses of the persona's signature phrase (the MMRole catchphrase, the PCogAlign role name)."""
        ...


def shared_multiplier(cand: TextFeatures, ref: TextFeatures, signature_allowed: int = 1) -> float:
    """The multiplier that scales every dimension: length window x repetition x fluency gate x lexicon stuffing x
    signature-phrase repeats (beyond ``signature_allowed`` or the reference's count) x false scene claims."""
    return (
        length_factor(cand.stats.n, ref.stats.n)
        * repetition_factor(cand.stats.repetition, ref.stats.repetition)
        * fluency_gate(cand.fluency, ref.fluency)
        * stuffing_factor(cand.density, ref.density)
        * repeat_factor(cand.signature, ref.signature, signature_allowed)
        * false_fact_factor(cand.facts.n_false, ref.facts.n_false)
    )


C = TypeVar("C")  # a judge's per-sample context
F = TypeVar("F", bound=TextFeatures)  # a judge's per-text features


class RuleJudge(abc.ABC, Generic[C, F]):
    """Base of the rule-based judges: batching, per-sample caching and the failure path.

    Subclasses set :attr:`task` (the dimensions are its registry entry's, in order) and implement
    :meth:`_slot_groups` (the task's swappable words), :meth:`_context` (what a sample fixes: persona lexicons,
    scene, expected answer; built once per sample and cached), :meth:`_features` (one text read against a context)
    and :meth:`_qualities` (candidate features vs reference features -> quality in ``[0, 1]`` per dimension); the
    base scales the qualities by :func:`shared_multiplier` onto the 0-10 scale. They take the arguments below.

    Args:
        corpus: texts of the task's language (e.g. every synthetic reference and dialogue turn); their words and
            word pairs are what fluency counts as known and plausible. Each sample's own reference, dialogue and
            persona texts are always added.
    """

    task: Task
    signature_allowed: int = 1
    """Uses of the signature phrase that are never too many (the reference's count when it has more)."""

    def __init__(self, corpus: Iterable[str] = ()) -> None:
        texts = list(corpus)
        self.dimensions: tuple[str, ...] = DIMENSIONS[self.task]
        self.slots: dict[str, str] = scene_slots()
        for slot, words in self._slot_groups():
            self.slots.update(dict.fromkeys(words, slot))
        self._vocabulary = frozenset(text_vocabulary(texts) | SCENE_WORDS | set(self.slots))
        self._bigrams = frozenset(text_bigrams(texts, self.slots))
        self._contexts: dict[Sample, tuple[C, F, dict[str, float]]] = {}

    @abc.abstractmethod
    def _slot_groups(self) -> Iterable[tuple[str, Iterable[str]]]:
        """``(slot name, words)``: words the task's templates swap freely (persona lexicons...), by slot. A word of
        several groups takes the last group's slot (and a task's slot wins over a scene slot)."""

    @abc.abstractmethod
    def _context(self, sample: Sample) -> C:
        """What a sample fixes for judging (persona lexicons, scene, expected answer)."""

    @abc.abstractmethod
    def _features(self, ctx: C, stats: TextStats) -> F:
        """One text read against a context."""

    @abc.abstractmethod
    def _qualities(self, ctx: C, cand: F, ref: F) -> Sequence[float]:
        """The quality in ``[0, 1]`` of ``cand`` on each dimension, in order, given the reference's features."""

    def _dimensions(self, ctx: C, cand: F, ref: F) -> dict[str, float]:
        """The 0-10 score per dimension of ``cand``: its qualities scaled by the shared multiplier."""
        qualities = self._qualities(ctx, cand, ref)
        return to_scores(self.dimensions, qualities, shared_multiplier(cand, ref, self.signature_allowed))

    def _language(self, sample_texts: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
        """The vocabulary and word pairs for one sample: the corpus's plus the sample's own texts."""
        texts = list(sample_texts)
        return self._vocabulary | text_vocabulary(texts), self._bigrams | text_bigrams(texts, self.slots)

    def _query_words(self, sample: Sample) -> frozenset[str]:
        """The content words (base form) of the sample's query keywords: what an on-topic reply picks up."""
        return frozenset(content_words(" ".join(query_keywords(sample.query))))

    def _prepared(self, sample: Sample) -> tuple[C, F, dict[str, float]]:
        hit = self._contexts.get(sample)
        if hit is None:
            ctx = self._context(sample)
            ref = self._features(ctx, TextStats(sample.reference))
            hit = (ctx, ref, self._dimensions(ctx, ref, ref))
            if len(self._contexts) >= _CONTEXT_CACHE_SIZE:
                self._contexts.clear()
            self._contexts[sample] = hit
        return hit

    def score(self, samples: Sequence[Sample], replies: Sequence[str]) -> list[JudgeResult]:
        """Judge ``replies[i]`` as the answer to ``samples[i]``.

        A pair the rules cannot judge (wrong task, or real data without a synthetic scene) gets a
        :meth:`JudgeResult.failure` naming the reason; it never gets a made-up score.

        Raises:
            ValueError: if the two sequences differ in length, or a sample has no reference (``reference == ""``,
                e.g. a simulated user's turn in a dialogue episode): the rules score a reply against its reference,
                so such a turn needs an LLM judge. This is a set-up error, raised for the whole batch rather than
                flagged per pair, because a fallback reward would quietly stand in for every such turn.
        """
        if len(samples) != len(replies):
            raise ValueError(f"got {len(samples)} samples but {len(replies)} replies; pass one reply per sample")
        for sample in samples:
            if sample.reference == "":
                raise ValueError(
                    f"sample {sample.id!r} has no reference (reference == ''), and {type(self).__name__} scores a "
                    "reply against its reference; use an LLM judge (reward=LLMJudgeConfig(...)) for exchanges "
                    "without a reference, e.g. a simulated user's"
                )
        out: list[JudgeResult] = []
        for sample, reply in zip(samples, replies):
            if sample.task != self.task:
                out.append(JudgeResult.failure(f"{type(self).__name__} judges {self.task!r}, got a {sample.task!r}"))
                continue
            if sample.scene is None:
                out.append(
                    JudgeResult.failure(
                        f"sample {sample.id!r} has no synthetic scene; rule judges need one (use the LLM judge for "
                        "real data)"
                    )
                )
                continue
            ctx, ref_features, ref_scores = self._prepared(sample)
            if reply == sample.reference:
                cand_scores = dict(ref_scores)
            elif not reply.strip():
                cand_scores = dict.fromkeys(self.dimensions, 0.0)
            else:
                cand_scores = self._dimensions(ctx, self._features(ctx, TextStats(reply)), ref_features)
            out.append(JudgeResult(candidate=cand_scores, reference=dict(ref_scores)))
        return out


def to_scores(dimensions: Sequence[str], qualities: Sequence[float], multiplier: float) -> dict[str, float]:
    """Scale per-dimension qualities in ``[0, 1]`` by the shared multiplier onto the 0-10 scale (4 decimals)."""
    return {d: round(10.0 * min(1.0, max(0.0, q)) * multiplier, 4) for d, q in zip(dimensions, qualities)}
