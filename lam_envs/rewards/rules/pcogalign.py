"""Rule-based judge for the synthetic PCogAlign task: the paper's five dimensions, from scene, role set and situation.

Each dimension is a quality in ``[0, 1]`` read off the reply against the sample (see the class docstring), scaled by
the shared anti-hacking multiplier of :mod:`lam_envs.rewards.rules.core`, on the 0-10 scale. The sample's reference
is scored by the same rules, so :attr:`JudgeResult.ratio` is the paper's score ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from lam_envs.data.scenes import Scene
from lam_envs.data.synthetic.questions import content_words
from lam_envs.data.synthetic.roster import INDIVIDUALS
from lam_envs.data.synthetic.situations import SITUATIONS, situation_for
from lam_envs.data.types import Sample, Task, UserProfile
from lam_envs.rewards.rules.core import Lexicon, LexiconHits, RuleJudge, fact_quality, lexicon_quality
from lam_envs.rewards.rules.facts import FactCheck, extract_mentions
from lam_envs.rewards.rules.text import Phrases, TextStats, fluency_score

# Penalty per distinct word of another situation's lexicon: lower than for personas, because behaviour words are
# everyday verbs ("check", "call") that a fitting answer can use in passing.
_OTHER_SITUATION_PENALTY = 0.25


@dataclass(frozen=True)
class PCogAlignContext:
    """What one sample fixes for judging (built once per sample)."""

    scene: Scene
    role: Phrases
    other_set_roles: Phrases
    other_people_roles: Phrases
    location: str
    feelings: Lexicon
    behaviors: Lexicon
    query_words: frozenset[str]
    vocabulary: frozenset[str]
    bigrams: frozenset[str]


@dataclass(frozen=True)
class PCogAlignFeatures:
    """One text read against a :class:`PCogAlignContext`."""

    stats: TextStats
    fluency: float
    facts: FactCheck
    role: int
    other_set_roles: int
    other_people_roles: int
    location_named: bool
    feelings: LexiconHits
    behaviors: LexiconHits
    query_hits: int

    @property
    def signature(self) -> int:
        """Times the role is named."""
        return self.role

    @property
    def density(self) -> float:
        """Share of tokens that are the situation's feeling/behaviour words."""
        return (self.feelings.own_tokens + self.behaviors.own_tokens) / max(self.stats.n, 1)


class PCogAlignRuleJudge(RuleJudge[PCogAlignContext, PCogAlignFeatures]):
    """Scores PCogAlign replies on the paper's five dimensions with transparent rules.

    Rubric (quality in ``[0, 1]`` per dimension, then x the shared multiplier, x 10):

    * ``role_set_sensitivity``: names the person's role at the location shown (and the location, when the
      reference does), minus 0.5 per distinct other role of their set and per role of another person.
    * ``body_behavior_awareness``: the situation's behaviour words (one fitting suggestion earns full credit, so
      listing more earns nothing), minus 0.25 per word of another situation.
    * ``mind_feelings_awareness``: the situation's feeling words, likewise.
    * ``contextual_awareness``: true scene claims including the place, times claim precision squared.
    * ``conversational_flow``: fluency relative to the reference, and answering the query (suggestions or the
      query's own words).

    Shared multiplier: length window (0.5-2x the reference), repeated n-grams, fluency gate, feeling/behaviour
    word density, the role named more than twice (or than the reference does), many false scene claims. An empty reply
    scores 0 everywhere. Constructed like every rule judge (see :class:`~lam_envs.rewards.rules.core.RuleJudge`).
    """

    task: Task = "pcogalign"
    signature_allowed = 2

    def _slot_groups(self) -> Iterator[tuple[str, Iterable[str]]]:
        for situation in SITUATIONS:
            yield "<feeling>", situation.feeling_words
            yield "<behavior>", situation.behavior_words
        for person in INDIVIDUALS:
            for _, role in person.role_set:
                yield "<role>", role.split()

    def _context(self, sample: Sample) -> PCogAlignContext:
        profile = sample.persona
        if not isinstance(profile, UserProfile):
            raise TypeError(f"sample {sample.id!r}: a PCogAlign sample needs a UserProfile, got {type(profile)}")
        assert sample.scene is not None  # checked by RuleJudge.score
        role = profile.current_role
        if role is None:
            raise ValueError(
                f"sample {sample.id!r}: the role set of {profile.individual_id!r} has no role at "
                f"{profile.location!r}; the synthetic generator must place people where they hold a role"
            )
        own_roles = {r for _, r in profile.role_set}
        others = {r for ind in INDIVIDUALS for _, r in ind.role_set} - own_roles
        situation = situation_for(profile)
        other_situations = [s for s in SITUATIONS if s.kind != situation.kind]
        texts = [sample.reference, profile.situation, profile.expectation] + [t.text for t in sample.dialogue]
        vocabulary, bigrams = self._language(texts)
        return PCogAlignContext(
            scene=sample.scene,
            role=Phrases.of([role]),
            other_set_roles=Phrases.of(own_roles - {role}),
            other_people_roles=Phrases.of(others),
            location=profile.location,
            feelings=Lexicon.of(situation.feeling_words, (w for s in other_situations for w in s.feeling_words)),
            behaviors=Lexicon.of(situation.behavior_words, (w for s in other_situations for w in s.behavior_words)),
            query_words=self._query_words(sample),
            vocabulary=vocabulary,
            bigrams=bigrams,
        )

    def _features(self, ctx: PCogAlignContext, stats: TextStats) -> PCogAlignFeatures:
        words = set(content_words(stats.text))
        return PCogAlignFeatures(
            stats=stats,
            fluency=fluency_score(stats, ctx.vocabulary, ctx.bigrams, self.slots),
            facts=FactCheck.of(extract_mentions(stats, ctx.scene)),
            role=sum(ctx.role.hits(stats).values()),
            other_set_roles=ctx.other_set_roles.distinct(stats),
            other_people_roles=ctx.other_people_roles.distinct(stats),
            location_named=ctx.location in words,
            feelings=LexiconHits.of(ctx.feelings, stats),
            behaviors=LexiconHits.of(ctx.behaviors, stats),
            query_hits=len(words & ctx.query_words),
        )

    def _qualities(self, ctx: PCogAlignContext, cand: PCogAlignFeatures, ref: PCogAlignFeatures) -> tuple[float, ...]:
        named = 1.0 if cand.role else 0.0
        if ref.location_named:
            named = 0.7 * named + 0.3 * float(cand.location_named)
        role_q = named - 0.5 * (cand.other_set_roles + cand.other_people_roles)
        need_query = max(1, min(2, ref.query_hits))
        answered = max(min(cand.behaviors.own, 1), min(cand.query_hits, need_query) / need_query)
        return (
            role_q,
            lexicon_quality(cand.behaviors, ref.behaviors, cap=1, penalty=_OTHER_SITUATION_PENALTY),
            lexicon_quality(cand.feelings, ref.feelings, cap=1, penalty=_OTHER_SITUATION_PENALTY),
            fact_quality(cand.facts, ref.facts),
            0.5 * min(1.0, cand.fluency / max(ref.fluency, 0.3)) + 0.5 * answered,
        )
