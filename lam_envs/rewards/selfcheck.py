"""Judge self-check: does a judge rank the reference above every way a reply can go wrong (or be gamed)?

Each *degraded kind* turns a sample into a reply: the reference itself, a fluent reply that is wrong for this sample
(another persona's, another image's, another role's), a broken one (shuffled, empty, truncated, repeated), or a
reward hack an RL policy would find (catchphrase spam, a list of persona words, every colour and shape listed,
padding to 4x) or did find (MMRole's ``evasive_template``). :func:`self_check` scores each kind on many samples; a
sound judge gives the reference a ratio of about 1 and every other
kind clearly less.

The kinds of a task are its :class:`~lam_envs.tasks.TaskSpec`'s ``self_check_kinds``. Most work on any sample; the
few that need to know the persona (a paraphrase, its signature phrase, its words) are given by the task to
:func:`degraded_kinds`, which lays out the common table (:data:`MMROLE_KINDS` and :data:`PCOGALIGN_KINDS` below).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from lam_envs.data.personas import character_of, user_of
from lam_envs.data.scenes import COLORS, SHAPES, Scene
from lam_envs.data.types import Sample
from lam_envs.rewards.base import Reward
from lam_envs.tasks import task_spec

Degrader = Callable[[Sample, Sequence[Sample], np.random.Generator], str]


def _words(text: str) -> list[str]:
    return text.split()


def _pick(rng: np.random.Generator, pool: Sequence[Sample], sample: Sample, what: str) -> Sample:
    if not pool:
        raise ValueError(f"no other sample to take {what} from for sample {sample.id!r}; pass more samples")
    return pool[int(rng.integers(len(pool)))]


def reference(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """The reference reply itself (the judge's calibration point: ratio 1)."""
    return sample.reference


def other_character(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """A fluent reply by another persona (another character, or for another person)."""
    pool = [o for o in others if o.persona_key != sample.persona_key]
    return _pick(rng, pool, sample, "another persona").reference


def other_image(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """A fluent, in-persona reply about another image (the same persona's reference for a different scene)."""
    pool = [o for o in others if o.persona_key == sample.persona_key and o.scene != sample.scene]
    if not pool:
        pool = [o for o in others if o.scene != sample.scene]
    return _pick(rng, pool, sample, "another image").reference


def shuffled(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """The reference's words in random order."""
    words = _words(sample.reference)
    return " ".join(words[int(i)] for i in rng.permutation(len(words)))


def empty(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """No reply at all."""
    return ""


def catchphrase_spam(signature: Callable[[Sample], str]) -> Degrader:
    """The degrader that puts the persona's signature phrase, ``signature(sample)``, after every sentence of the
    reference."""

    def spam(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
        phrase = signature(sample)
        marked = sample.reference.replace("!", "!|").replace(".", ".|").replace("?", "?|")
        return " ".join(f"{p} {phrase}" for p in (part.strip() for part in marked.split("|")) if p)

    return spam


def persona_word_list(persona_words: Callable[[Sample], Sequence[str]]) -> Degrader:
    """The degrader that lists every persona word the judge looks for, ``persona_words(sample)``, in random order."""

    def word_list(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
        words = [w for w in persona_words(sample) if w]
        words = [words[int(i)] for i in rng.permutation(len(words))]
        return (", ".join(words) + ".").capitalize()

    return word_list


def list_every_color_and_shape(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """The reference plus a sentence naming every colour and every shape (fishing for any answer word)."""
    colors = ", ".join(COLORS)
    shapes = ", ".join(s + "s" if not s.endswith("s") else s + "es" for s in SHAPES)
    return f"{sample.reference} I see {colors} and {shapes}."


def very_long(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """The reference repeated to four times its length."""
    return " ".join([sample.reference] * 4)


def very_short(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """The reference's first three words."""
    return " ".join(_words(sample.reference)[:3])


def degenerate_repetition(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """``"the the the ..."`` or the reference's first four words over and over, as long as the reference."""
    n = len(_words(sample.reference))
    if rng.random() < 0.5:
        return " ".join(["the"] * n)
    phrase = _words(sample.reference)[:4]
    return " ".join((phrase * (n // max(len(phrase), 1) + 1))[:n])


def degraded_kinds(
    *,
    paraphrase: Degrader,
    signature: Callable[[Sample], str],
    persona_words: Callable[[Sample], Sequence[str]],
    **extra: Degrader,
) -> dict[str, Degrader]:
    """A task's self-check table: the kinds every task has, in their fixed order, then the task's ``extra`` ones.

    The order is part of the result: kind ``i`` draws from the generator seeded ``[seed, i]``.

    Args:
        paraphrase: another good reply to the same sample (not a degraded kind: a sound judge scores it close to
            the reference).
        signature: the persona's signature phrase (``catchphrase_spam``).
        persona_words: every persona word the judge looks for (``persona_word_list``).
        extra: kinds only this task has, by name.

    Returns:
        ``{kind: degrader}``, as a :class:`~lam_envs.tasks.TaskSpec`'s ``self_check_kinds``.
    """
    return {
        "reference": reference,
        "paraphrase": paraphrase,
        "other_character": other_character,
        "other_image": other_image,
        "shuffled": shuffled,
        "empty": empty,
        "catchphrase_spam": catchphrase_spam(signature),
        "persona_word_list": persona_word_list(persona_words),
        "list_every_color_and_shape": list_every_color_and_shape,
        "very_long": very_long,
        "very_short": very_short,
        "degenerate_repetition": degenerate_repetition,
        **extra,
    }


# --- MMRole: the character's catchphrase and lexicons, a paraphrase from the generator ----------------------------


def _scene_of(sample: Sample, what: str) -> Scene:
    if sample.scene is None:
        raise TypeError(f"{what} needs a synthetic sample with a scene; {sample.id!r} has none")
    return sample.scene


def character_catchphrase(sample: Sample) -> str:
    """MMRole: the character's catchphrase."""
    return character_of(sample).catchphrase


def character_words(sample: Sample) -> list[str]:
    """MMRole: the character's personality and knowledge words and tone markers."""
    from lam_envs.data.synthetic.roster import character

    spec = character(character_of(sample).name)
    return list(spec.personality_words + spec.knowledge_words + spec.tone_markers)


def mmrole_paraphrase(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """MMRole: another good reply to the same sample, from the synthetic generator with another random state."""
    from lam_envs.data.synthetic import mmrole_reply
    from lam_envs.data.synthetic.questions import parse_question
    from lam_envs.data.synthetic.roster import character

    scene = _scene_of(sample, "paraphrase")
    return mmrole_reply(character(character_of(sample).name), scene, parse_question(sample.query), rng)


def evasive_template(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """MMRole: the reply PPO converged on at 200k steps. One skeleton for every prompt, fluent and in character (the
    character's tone marker and personality word), naming only the place, so it is true of every picture and answers
    no count, colour, shape or position question:
    ``"Zoom! This picture was taken in the park, no question. Being the cheerful sort, I must say it pleases me."``"""
    from lam_envs.data.synthetic.grammar import place_phrase
    from lam_envs.data.synthetic.roster import character

    spec = character(character_of(sample).name)
    marker = spec.tone_markers[int(rng.integers(len(spec.tone_markers)))].capitalize()
    trait = spec.personality_words[int(rng.integers(len(spec.personality_words)))]
    place = place_phrase(_scene_of(sample, "evasive_template").location)
    return f"{marker}! This picture was taken {place}, no question. Being the {trait} sort, I must say it pleases me."


MMROLE_KINDS: dict[str, Degrader] = degraded_kinds(
    paraphrase=mmrole_paraphrase,
    signature=character_catchphrase,
    persona_words=character_words,
    evasive_template=evasive_template,
)
"""MMRole's degraded kinds (its :class:`~lam_envs.tasks.TaskSpec`'s ``self_check_kinds``)."""


# --- PCogAlign: the role at the place, the situation's words, a reply at another of the person's places -----------


def role_at_place(sample: Sample) -> str:
    """PCogAlign: the person's role at the place, as a signature phrase."""
    persona = user_of(sample)
    return f"As a {persona.current_role} at the {persona.location}!"


def user_words(sample: Sample) -> list[str]:
    """PCogAlign: the role, the place, and the situation's feeling and behaviour words."""
    from lam_envs.data.synthetic.situations import situation_for

    persona = user_of(sample)
    situation = situation_for(persona)
    return [persona.current_role or "", persona.location, *situation.feeling_words, *situation.behavior_words]


def pcogalign_paraphrase(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """PCogAlign: another good reply to the same sample, from the synthetic generator with another random state."""
    from lam_envs.data.synthetic import pcogalign_reply
    from lam_envs.data.synthetic.roster import individual
    from lam_envs.data.synthetic.situations import situation_for

    scene = _scene_of(sample, "paraphrase")
    persona = user_of(sample)
    return pcogalign_reply(individual(persona.individual_id), situation_for(persona), scene, rng)


def other_role(sample: Sample, others: Sequence[Sample], rng: np.random.Generator) -> str:
    """PCogAlign: a good reply for the same person, situation and objects, but at another location of their role
    set (so it addresses the wrong role and names the wrong place).

    Raises:
        TypeError: for a sample without a PCogAlign user profile.
        ValueError: if the person holds a single role.
    """
    from lam_envs.data.synthetic import pcogalign_reply
    from lam_envs.data.synthetic.roster import individual
    from lam_envs.data.synthetic.situations import situation_for

    profile = user_of(sample)
    scene = _scene_of(sample, "other_role")
    locations = [loc for loc, _ in profile.role_set if loc != profile.location]
    if not locations:
        raise ValueError(f"individual {profile.individual_id!r} has a single role; other_role needs two or more")
    location = locations[int(rng.integers(len(locations)))]
    moved = Scene(location, scene.objects, scene.side)
    return pcogalign_reply(individual(profile.individual_id), situation_for(profile), moved, rng)


PCOGALIGN_KINDS: dict[str, Degrader] = degraded_kinds(
    paraphrase=pcogalign_paraphrase, signature=role_at_place, persona_words=user_words, other_role=other_role
)
"""PCogAlign's degraded kinds (its :class:`~lam_envs.tasks.TaskSpec`'s ``self_check_kinds``)."""


@dataclass(frozen=True)
class KindReport:
    """How a judge scored one degraded kind.

    Attributes:
        kind: the degraded kind.
        mean: mean score ratio over the samples.
        std: standard deviation of the ratio.
        dimensions: mean per-dimension ratio (candidate / reference score, see
            :attr:`~lam_envs.rewards.base.JudgeResult.dimension_ratios`).
        failures: pairs the judge could not score (left out of the means).
    """

    kind: str
    mean: float
    std: float
    dimensions: Mapping[str, float]
    failures: int


def self_check_report(
    judge: Reward, samples: Sequence[Sample], seed: int = 0, kinds: Sequence[str] | None = None
) -> list[KindReport]:
    """Score every degraded kind of the judge's task on ``samples``.

    Args:
        judge: the judge to check.
        samples: samples of the judge's task (two or more; degraded kinds borrow other samples' replies).
        seed: seeds the degraders' generator (one generator per kind, so adding a kind changes no other).
        kinds: which kinds to run (all of the task's by default).

    Returns:
        One report per kind, in order.

    Raises:
        ValueError: if samples are of another task, fewer than two, or a kind is unknown, or if the judge's task is
            not registered or has no ``self_check_kinds``.
    """
    table = task_spec(judge.task).degraded_kinds()
    if len(samples) < 2:
        raise ValueError(f"self-check needs at least two samples, got {len(samples)}")
    wrong = {s.task for s in samples} - {judge.task}
    if wrong:
        raise ValueError(f"judge scores {judge.task!r} but samples include {sorted(wrong)}")
    names = list(table) if kinds is None else list(kinds)
    unknown = [k for k in names if k not in table]
    if unknown:
        raise ValueError(f"unknown degraded kinds {unknown}; {judge.task} has: {', '.join(table)}")
    reports = []
    for i, kind in enumerate(names):
        rng = np.random.default_rng([seed, i])
        replies = [table[kind](s, [o for o in samples if o is not s], rng) for s in samples]
        results = judge.score(samples, replies)
        ok = [r for r in results if not r.failed]
        ratios = np.array([r.ratio for r in ok], dtype=float)
        dims = {
            d: float(np.mean([r.dimension_ratios.get(d, 0.0) for r in ok])) if ok else math.nan
            for d in judge.dimensions
        }
        reports.append(
            KindReport(
                kind,
                float(ratios.mean()) if ok else math.nan,
                float(ratios.std()) if ok else math.nan,
                dims,
                len(results) - len(ok),
            )
        )
    return reports


def self_check(judge: Reward, samples: Sequence[Sample], seed: int = 0) -> dict[str, tuple[float, float]]:
    """``kind -> (mean ratio, std)`` for every degraded kind of the judge's task (see :func:`self_check_report`)."""
    return {r.kind: (r.mean, r.std) for r in self_check_report(judge, samples, seed)}
