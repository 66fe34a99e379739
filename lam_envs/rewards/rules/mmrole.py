"""Rule-based judge for the synthetic MMRole task: the paper's eight dimensions, from scene, character and dialogue.

Each dimension is a quality in ``[0, 1]`` read off the reply against the sample (see the class docstring for the
rubric), scaled by the shared anti-hacking multiplier of :mod:`lam_envs.rewards.rules.core`, on the 0-10 scale.
The sample's reference is scored by the same rules, so :attr:`JudgeResult.ratio` is the paper's score ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from lam_envs.data.scenes import COLORS, LOCATIONS, SHAPES, Scene
from lam_envs.data.synthetic.grammar import NUMBER_WORDS
from lam_envs.data.synthetic.questions import Question, answer_words, content_words, parse_question
from lam_envs.data.synthetic.roster import CHARACTERS, character
from lam_envs.data.types import CharacterProfile, Sample, Task
from lam_envs.rewards.rules.core import Lexicon, LexiconHits, RuleJudge, fact_quality, lexicon_quality
from lam_envs.rewards.rules.facts import FactCheck, extract_mentions
from lam_envs.rewards.rules.text import Phrases, TextStats, fluency_score, length_factor

_NUMBERS = frozenset(NUMBER_WORDS)
_POSITIONS = frozenset(("top", "bottom", "left", "right", "centre", "middle"))
# Words of the answer's type for each question kind: a reply that has one at least addresses the question.
_KIND_WORDS: dict[str, frozenset[str]] = {
    "count": _NUMBERS,
    "color": frozenset(COLORS),
    "shape": frozenset(SHAPES),
    "position": _POSITIONS,
    "place": frozenset(LOCATIONS),
    "describe": frozenset(COLORS) | frozenset(SHAPES) | frozenset(LOCATIONS),
}
# Words without which a reply leaves the question unanswered: the answer's type, and for a request to describe the
# picture a word about what is in it (the place alone, true of every picture taken there, describes nothing).
_ADDRESS_WORDS: dict[str, frozenset[str]] = {**_KIND_WORDS, "describe": frozenset(COLORS) | frozenset(SHAPES)}
# False claims that compete with the right answer, per question kind.
_COMPETING_KINDS: dict[str, tuple[str, ...]] = {
    "count": ("count",),
    "color": ("color", "pair"),
    "shape": ("shape", "pair"),
    "position": ("position",),
    "place": ("place",),
    "describe": ("color", "shape", "pair", "place", "count"),
}


@dataclass(frozen=True)
class MMRoleContext:
    """What one sample fixes for judging (built once per sample)."""

    scene: Scene
    question: Question
    answers: frozenset[str]
    personality: Lexicon
    knowledge: Lexicon
    tone: Lexicon
    catchphrase: Phrases
    other_catchphrases: Phrases
    query_words: frozenset[str]
    vocabulary: frozenset[str]
    bigrams: frozenset[str]


@dataclass(frozen=True)
class MMRoleFeatures:
    """One text read against an :class:`MMRoleContext`."""

    stats: TextStats
    fluency: float
    facts: FactCheck
    personality: LexiconHits
    knowledge: LexiconHits
    tone: LexiconHits
    catchphrase: int
    other_catchphrases: int
    answer_hits: int
    competing: int
    kind_words: int
    query_hits: int
    evasive: bool
    """The reply leaves the question unanswered (:func:`evades`)."""

    @property
    def own_total(self) -> int:
        return self.personality.own + self.knowledge.own + self.tone.own + min(self.catchphrase, 1)

    @property
    def others_total(self) -> int:
        return self.personality.others + self.knowledge.others + self.tone.others + self.other_catchphrases

    @property
    def signature(self) -> int:
        """Times the catchphrase is said."""
        return self.catchphrase

    @property
    def density(self) -> float:
        """Share of tokens that are the character's own lexicon words."""
        own = self.personality.own_tokens + self.knowledge.own_tokens + self.tone.own_tokens
        return own / max(self.stats.n, 1)


EVASION_FACTOR = 0.5
"""Multiplier for a reply that leaves the user's question unanswered (:func:`evades`). A judge reading such a reply
marks it down on everything, as the shared multiplier does for a too-long or repetitive one. Without it, a fluent
in-character sentence naming only the place (true of every picture taken there) scored 0.69 of the reference on
average while answering no count, colour, shape or position question, and PPO converged on it at 200k steps (see
``lam judge --self-check``, kind ``evasive_template``)."""


def evades(question: Question, words: Iterable[str]) -> bool:
    """Whether a reply whose content words (base forms) are ``words`` leaves ``question`` unanswered: it has no word
    of the answer's type (a number for a count question, a colour for a colour question, ...), or, asked to describe
    the picture, no word about its objects (a colour or a shape)."""
    return not _ADDRESS_WORDS[question.kind] & set(words)


def _need(ref_hits: int, cap: int) -> int:
    return max(1, min(cap, ref_hits))


class MMRoleRuleJudge(RuleJudge[MMRoleContext, MMRoleFeatures]):
    """Scores MMRole replies on the paper's eight dimensions with transparent rules.

    Rubric (quality in ``[0, 1]`` per dimension, then x the shared multiplier, x 10):

    * ``instruction_adherence``: addresses the kind of question asked (a right answer word 1, a word of the right
      type 0.6), speaks as the character (own lexicon vs others'), length close to the reference's.
    * ``fluency``: grammar checks x word-pair plausibility x known words, relative to the reference.
    * ``coherency``: on topic with the user's turn (answers it; for a request to describe the picture, picking up
      its words counts too), no contradiction of the scene (precision of the scene claims).
    * ``image_text_relevance``: true scene claims (colours, shapes, counts, sizes, positions, place) saturating at
      the reference's number, times claim precision squared.
    * ``response_accuracy``: contains the answer words, minus 0.5 per distinct competing false answer.
    * ``personality_consistency`` / ``knowledge_consistency``: 60% own personality / knowledge words (credit
      saturates at two, minus 0.5 per word of another character), 40% speaking as the character at all.
    * ``tone_consistency``: own tone markers (70%) and the catchphrase (30%, only when the reference says it),
      minus 0.5 per marker or catchphrase of another character.

    Shared multiplier: length window (0.5-2x the reference), repeated n-grams, fluency gate, persona-word density,
    catchphrase repeats, many false scene claims; times :data:`EVASION_FACTOR` when the reply leaves the question
    unanswered (:func:`evades`) and the reference does not. An empty reply scores 0 everywhere. Constructed like
    every rule judge (see :class:`~lam_envs.rewards.rules.core.RuleJudge`).
    """

    task: Task = "mmrole"

    def _slot_groups(self) -> Iterator[tuple[str, Iterable[str]]]:
        for spec in CHARACTERS:
            yield "<personality>", spec.personality_words
            yield "<knowledge>", spec.knowledge_words
            yield "<tone>", spec.tone_markers

    def _context(self, sample: Sample) -> MMRoleContext:
        persona = sample.persona
        if not isinstance(persona, CharacterProfile):
            raise TypeError(f"sample {sample.id!r}: an MMRole sample needs a CharacterProfile, got {type(persona)}")
        spec = character(persona.name)
        others = [c for c in CHARACTERS if c.name != spec.name]
        question = parse_question(sample.query)
        assert sample.scene is not None  # checked by RuleJudge.score
        texts = [sample.reference, persona.introduction, persona.personality, persona.experience]
        texts += [t.text for t in sample.dialogue]
        vocabulary, bigrams = self._language(texts)
        return MMRoleContext(
            scene=sample.scene,
            question=question,
            answers=answer_words(question, sample.scene),
            personality=Lexicon.of(spec.personality_words, (w for c in others for w in c.personality_words)),
            knowledge=Lexicon.of(spec.knowledge_words, (w for c in others for w in c.knowledge_words)),
            tone=Lexicon.of(spec.tone_markers, (w for c in others for w in c.tone_markers)),
            catchphrase=Phrases.of([persona.catchphrase]),
            other_catchphrases=Phrases.of(c.profile.catchphrase for c in others),
            query_words=self._query_words(sample),
            vocabulary=vocabulary,
            bigrams=bigrams,
        )

    def _features(self, ctx: MMRoleContext, stats: TextStats) -> MMRoleFeatures:
        words = set(content_words(stats.text))
        facts = FactCheck.of(extract_mentions(stats, ctx.scene))
        competing = facts.false_of_kind(*_COMPETING_KINDS[ctx.question.kind])
        if ctx.question.kind == "count":
            # A bare number ("I count three!") is a competing answer too when it is not the right one.
            true_counts = {k[1] for k in facts.true_keys if k[0] == "count"}
            stray = {w for w in words & _NUMBERS if w not in ctx.answers}
            competing += sum(1 for w in stray if NUMBER_WORDS.index(w) not in true_counts)
        return MMRoleFeatures(
            stats=stats,
            fluency=fluency_score(stats, ctx.vocabulary, ctx.bigrams, self.slots),
            facts=facts,
            personality=LexiconHits.of(ctx.personality, stats),
            knowledge=LexiconHits.of(ctx.knowledge, stats),
            tone=LexiconHits.of(ctx.tone, stats),
            catchphrase=sum(ctx.catchphrase.hits(stats).values()),
            other_catchphrases=ctx.other_catchphrases.distinct(stats),
            answer_hits=len(words & ctx.answers),
            competing=competing,
            kind_words=len(words & _KIND_WORDS[ctx.question.kind]),
            query_hits=len(words & ctx.query_words),
            evasive=evades(ctx.question, words),
        )

    def _qualities(self, ctx: MMRoleContext, cand: MMRoleFeatures, ref: MMRoleFeatures) -> tuple[float, ...]:
        answered = 1.0 if cand.answer_hits else (0.6 if cand.kind_words else 0.0)
        on_topic = answered
        if ctx.question.kind == "describe":
            # Picking up the user's words keeps a reply on topic only where no specific answer was asked for.
            on_topic = max(answered, min(cand.query_hits, _need(ref.query_hits, 2)) / _need(ref.query_hits, 2))
        in_character = max(
            0.0, min(cand.own_total, _need(ref.own_total, 2)) / _need(ref.own_total, 2) - 0.5 * cand.others_total
        )
        need_answer = min(2, ref.answer_hits)
        coverage = 1.0 if need_answer == 0 else min(cand.answer_hits, need_answer) / need_answer
        markers = min(cand.tone.own, _need(ref.tone.own, 2)) / _need(ref.tone.own, 2)
        if ref.catchphrase:
            # The catchphrase is said only sometimes: it adds to the voice but is not required.
            markers = 0.7 * markers + 0.3 * min(cand.catchphrase, 1)
        tone = max(0.0, markers - 0.5 * (cand.tone.others + cand.other_catchphrases))
        # A good reply shows the persona through one or two of its words, not through every kind at once: each of
        # personality and knowledge gets 60% from its own words and 40% from the character's voice as a whole.
        personality = 0.6 * lexicon_quality(cand.personality, ref.personality) + 0.4 * in_character
        knowledge = 0.6 * lexicon_quality(cand.knowledge, ref.knowledge) + 0.4 * in_character

        return (
            0.45 * answered + 0.35 * in_character + 0.2 * length_factor(cand.stats.n, ref.stats.n, 0.7, 1.5),
            cand.fluency / max(ref.fluency, 0.3),
            0.5 * on_topic + 0.5 * cand.facts.precision,
            fact_quality(cand.facts, ref.facts),
            coverage * max(0.0, 1.0 - 0.5 * cand.competing),
            personality,
            knowledge,
            tone,
        )

    def _dimensions(self, ctx: MMRoleContext, cand: MMRoleFeatures, ref: MMRoleFeatures) -> dict[str, float]:
        scores = super()._dimensions(ctx, cand, ref)
        if cand.evasive and not ref.evasive:
            scores = {d: round(v * EVASION_FACTOR, 4) for d, v in scores.items()}
        return scores
