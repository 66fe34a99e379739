"""The synthetic MMRole task: characters comment on a synthetic image with a human user.

A sample is 1-3 earlier exchanges about the image, then the user's last turn (an optional comment and a question:
count, colour, shape, place, position or describe). The reference is the character's in-character answer, built
by :func:`mmrole_reply`, which:

* answers the question correctly (it contains :func:`~lam_envs.data.synthetic.questions.answer_words`);
* states only true facts of the scene;
* uses one to three of the character's personality/knowledge words and one tone marker;
* says the catchphrase at most once, and only sometimes;
* is 15 to 45 words long.

Splits are by character: the 12 in-distribution characters share one pool cut 50/40/10 into SFT, RL and the
in-distribution test; the 4 held-out characters appear only in :attr:`Split.TEST_OOD`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from lam_envs.data.scenes import Scene, random_scene
from lam_envs.data.splits import MMROLE_FRACTIONS
from lam_envs.data.synthetic.grammar import (
    article,
    expand,
    join_sentences,
    join_words,
    number_word,
    pick,
    plural,
    place_phrase,
    position_phrase,
    scene_facts,
    scene_summary,
    sample_distinct,
)
from lam_envs.data.synthetic.questions import Question, QuestionKind, asked_objects, question_text, random_question
from lam_envs.data.synthetic.roster import CHARACTERS, CharacterSpec
from lam_envs.data.synthetic.seeding import split_indices, split_samples
from lam_envs.data.types import Sample, Split, Turn


MMROLE_SIZES: dict[Split, int] = {Split.SFT: 4000, Split.RL: 3200, Split.TEST_ID: 800, Split.TEST_OOD: 800}
"""Samples per split (the in-distribution pool is 8000 samples cut 50/40/10; the OOD pool has 800)."""

IN_DISTRIBUTION_CHARACTERS: tuple[CharacterSpec, ...] = tuple(c for c in CHARACTERS if not c.held_out)
HELD_OUT_CHARACTERS: tuple[CharacterSpec, ...] = tuple(c for c in CHARACTERS if c.held_out)
MIN_REPLY_WORDS, MAX_REPLY_WORDS = 15, 45

# --- the answer sentence, per question kind ------------------------------------------------------------------


def _things(color: str | None, shape: str | None, n: int) -> str:
    if shape:
        return f"{color + ' ' if color else ''}{plural(shape, n)}"
    if color:
        return f"{color} {_pick_word(n, 'thing', 'things')}"
    return _pick_word(n, "object", "objects")


def _pick_word(n: int, singular: str, plural_form: str) -> str:
    return singular if n == 1 else plural_form


def _count_sentence(question: Question, scene: Scene, rng: np.random.Generator) -> str:
    """How many of the asked objects there are, in words (``"zero"`` when none)."""
    color, shape = question.color, question.shape
    n = len(asked_objects(question, scene))
    nw, things = number_word(n), _things(color, shape, n)
    if n == 0:
        return expand("[I see|There are] no {things} [here|at all], [so the count is zero|zero in total].", rng,
                      {"things": _things(color, shape, 2)})
    be = "is" if n == 1 else "are"
    return expand(
        pick(
            rng,
            (
                "I count {nw} {things} [here|in the picture|in all].",
                "There {be} {nw} {things} [here|in this picture|, no more and no less].",
                "{nw} {things}, [by my count|if I count right|as far as I can tell].",
                "[My count says|The answer is] {nw} {things}.",
            ),
        ),
        rng,
        {"nw": nw, "things": things, "be": be},
    )


def _color_sentence(question: Question, scene: Scene, rng: np.random.Generator) -> str:
    """Every colour of the objects of the asked shape (or that there is no such object)."""
    shape = question.shape
    objs = asked_objects(question, scene)
    colors = sorted({o.color for o in objs})
    if not colors:
        return expand("[I see no|There is no] {shape} [here|in this picture].", rng, {"shape": shape or "object"})
    n = len(objs)
    things = plural(shape, n) if shape else _pick_word(n, "object", "objects")
    if len(colors) == 1:
        templates = (
            "The {things} {be} {colors}.",
            "{Colors}, [plain as day|clear enough|without a doubt]: the {things} {be} {colors}.",
            "[Those|The] {things} [are painted|are coloured|come in] {colors}."
            if n > 1
            else "The {things} [is painted|is coloured|is] {colors}.",
        )
    else:
        templates = ("The {things} come in {colors}.", "[Some|A few] of the {things} are {first}, the rest {rest}.")
    return expand(
        pick(rng, templates),
        rng,
        {
            "things": things,
            "be": "is" if n == 1 else "are",
            "colors": join_words(colors),
            "Colors": colors[0].capitalize(),
            "first": colors[0],
            "rest": join_words(colors[1:]),
        },
    )


def _shape_sentence(question: Question, scene: Scene, rng: np.random.Generator) -> str:
    """Every shape of the objects of the asked colour (or that there is no such object)."""
    color = question.color
    objs = asked_objects(question, scene)
    shapes = sorted({o.shape for o in objs})
    if not shapes:
        return expand("[I see nothing|Nothing here is] {color} [in this picture|].", rng, {"color": color or ""})
    n = len(objs)
    if len(shapes) == 1:
        form = f"{article(shapes[0])} {shapes[0]}" if n == 1 else plural(shapes[0])
        templates = (
            "The {color} {thing} {be} {form}.",
            "[That|The] {color} {thing} {be} {form}, [clear as can be|no doubt about it].",
            "{Form}: [that is|that is the shape of] the {color} {thing}.",
        )
    else:
        form = join_words([plural(s) for s in shapes])
        templates = ("The {color} things are {form}.", "[Among|Of] the {color} things I see {form}.")
    return expand(
        pick(rng, templates),
        rng,
        {
            "color": color or "",
            "thing": _pick_word(n, "thing", "things"),
            "be": "is" if n == 1 else "are",
            "form": form,
            "Form": form[0].upper() + form[1:],
        },
    )


def _position_sentence(question: Question, scene: Scene, rng: np.random.Generator) -> str:
    """Where the asked objects sit in the picture (or that there are none)."""
    color, shape = question.color, question.shape
    objs = asked_objects(question, scene)
    if not objs:
        return expand("[I cannot find|There is no] {things} [here|anywhere].", rng,
                      {"things": _things(color, shape, 1)})
    where = position_phrase([o.position for o in objs], rng)
    be = "is" if len(objs) == 1 else "are"
    things = _things(color, shape, len(objs))
    return expand(
        pick(
            rng,
            (
                "The {things} {be} {where}.",
                "[You will find|Look for] the {things} {where}.",
                "{Where}: that is where the {things} {be}.",
                "The {things} [sit|can be seen] {where}." if len(objs) > 1 else "The {things} sits {where}.",
            ),
        ),
        rng,
        {"things": things, "be": be, "where": where, "Where": where[0].upper() + where[1:]},
    )


def _place_sentence(question: Question, scene: Scene, rng: np.random.Generator) -> str:
    """Where the picture was taken (the background)."""
    return expand(
        pick(
            rng,
            (
                "This [looks like|must be|is clearly] the {place}.",
                "We are {at_place}[, I would say|, no doubt|].",
                "[That|This] is the {place}, [I am sure of it|plain to see|judging by the background].",
                "[The background says|It is] the {place}.",
                "[This picture was|It was] taken {at_place}[, no question|].",
            ),
        ),
        rng,
        {"place": scene.background, "at_place": place_phrase(scene.background)},
    )


def _describe_sentence(question: Question, scene: Scene, rng: np.random.Generator) -> str:
    """What the picture shows: a summary of its objects, and the place."""
    summary = scene_summary(scene, rng)
    at_place = place_phrase(scene.background)
    return expand(
        pick(
            rng,
            (
                "I see {summary} {at_place}.",
                "This is the {place}, with {summary}.",
                "{At_place} [I see|I can make out|we have] {summary}.",
                "[The picture shows|Here we have] {summary}[, all|] {at_place}.",
            ),
        ),
        rng,
        {"summary": summary, "place": scene.background, "at_place": at_place, "At_place": at_place.capitalize()},
    )


_ANSWER_SENTENCES: dict[QuestionKind, Callable[[Question, Scene, np.random.Generator], str]] = {
    "count": _count_sentence,
    "color": _color_sentence,
    "shape": _shape_sentence,
    "position": _position_sentence,
    "place": _place_sentence,
    "describe": _describe_sentence,
}


def answer_sentence(question: Question, scene: Scene, rng: np.random.Generator) -> str:
    """One true sentence that answers ``question`` about ``scene`` (contains its answer words): the sentence of its
    kind (a count, the colours or shapes asked about, where the objects sit, the place, a description)."""
    return _ANSWER_SENTENCES[question.kind](question, scene, rng)


# --- the character's voice -----------------------------------------------------------------------------------

_FLAVOUR_K = (
    "It [reminds me of|puts me in mind of|brings back memories of] the {k}.",
    "[Nothing|Not much] here [beats|compares with] the {k}[, mind you|].",
    "I would [trade|swap] [all of it|the lot] for [my|the] {k}.",
    "[Even|Not even] the {k} [could|would] [top|outdo] this.",
    "[It makes me think of|I am thinking of] the {k} and the {k2}.",
    "[Somehow|Oddly enough] the {k} [comes|springs] to mind.",
)
_FLAVOUR_P = (
    "Call me {p}, but I [like|enjoy|appreciate] [it|this picture|the view].",
    "[As|Being] the {p} sort, I [must say|cannot help saying] it [pleases|suits] me.",
    "My {p} [heart|soul|side] [approves|is pleased|is satisfied].",
    "[In|Forgive] my {p} way[, I|: I] [say|think] it [works|is fine].",
)
_FLAVOUR_PK = (
    "[As|Being] the {p} sort, I [compare|liken] it to the {k}.",
    "[Call me|I may be] {p}, but it [reminds me of|is like] the {k}.",
    "My {p} [mind|heart] [goes|wanders] straight to the {k}.",
)


def flavour_sentence(spec: CharacterSpec, rng: np.random.Generator, n_words: int) -> str:
    """A sentence in ``spec``'s voice using ``n_words`` (1 or 2) of its personality/knowledge words."""
    k, k2 = sample_distinct(rng, spec.knowledge_words, 2)
    p = pick(rng, spec.personality_words)
    if n_words >= 2:
        templates = _FLAVOUR_PK + tuple(t for t in _FLAVOUR_K if "{k2}" in t)
    else:
        templates = tuple(t for t in _FLAVOUR_K if "{k2}" not in t) + _FLAVOUR_P
    return expand(pick(rng, templates), rng, {"k": k, "k2": k2, "p": p})


def mmrole_reply(
    spec: CharacterSpec,
    scene: Scene,
    question: Question,
    rng: np.random.Generator,
    *,
    catchphrase_p: float = 0.3,
) -> str:
    """An in-character, grounded answer to ``question`` about ``scene`` (the synthetic reference reply).

    Calling it again with another generator state gives a different but equally good reply (a paraphrase), which
    is what the judges' self-check uses.

    Args:
        spec: the character speaking.
        scene: the image's ground truth.
        question: what the user asked.
        rng: the caller's generator.
        catchphrase_p: probability of saying the catchphrase (once).

    Returns:
        A reply of :data:`MIN_REPLY_WORDS` to :data:`MAX_REPLY_WORDS` words.
    """
    answer = answer_sentence(question, scene, rng)
    extras: list[str] = []
    if rng.random() < 0.6:
        # Another true fact, about a group the answer did not already cover.
        targeted = question.color is not None or question.shape is not None
        said = [
            g
            for g in scene.groups()
            if question.kind == "describe"
            or (targeted and question.color in (None, g.color) and question.shape in (None, g.shape))
        ]
        facts = scene_facts(scene, rng, k=1, exclude=said)
        if facts:
            extras.append(
                expand("[I also see|I also spot|Besides that I see|Not to forget] {fact}.", rng, {"fact": facts[0]})
            )
        elif question.kind not in ("place", "describe"):
            extras.append(
                expand("[All this is|It all happens|This is all] {at_place}.", rng,
                       {"at_place": place_phrase(scene.background)})
            )
    extras.append(flavour_sentence(spec, rng, n_words=1 + int(rng.random() < 0.4)))
    if len(extras) > 1 and rng.random() < 0.5:
        extras.reverse()
    body = [answer, *extras]
    if rng.random() < 0.2:  # sometimes the character muses first, then answers
        body = body[1:] + body[:1]
    if rng.random() < catchphrase_p:
        body.insert(len(body) if rng.random() < 0.6 else 0, spec.profile.catchphrase)
    tone = f"{pick(rng, spec.tone_markers).capitalize()}!"
    tone_first = rng.random() < 0.7
    text = _with_tone(body, tone, tone_first)
    while len(text.split()) < MIN_REPLY_WORDS:
        body.append(flavour_sentence(spec, rng, n_words=1))
        text = _with_tone(body, tone, tone_first)
    while len(text.split()) > MAX_REPLY_WORDS and len(body) > 2:
        # Drop the longest extra (never the answer, never the only voice sentence).
        extra = max((s for s in body if s != answer), key=lambda s: len(s.split()))
        body.remove(extra)
        text = _with_tone(body, tone, tone_first)
    return text


def _with_tone(body: list[str], tone: str, first: bool) -> str:
    return join_sentences([tone, *body] if first else [*body, tone])


# --- user turns and samples ----------------------------------------------------------------------------------


def user_turn(spec: CharacterSpec, scene: Scene, question: Question, rng: np.random.Generator, first: bool) -> str:
    """A user turn: sometimes a greeting or a comment about the picture, then the question."""
    parts = []
    if first and rng.random() < 0.5:
        parts.append(expand("[Hello|Hi|Good day|Hey] {name}[!|.]", rng, {"name": spec.name}))
    r = rng.random()
    if r < 0.3:
        parts.append(expand("[What a|Such a] [lovely|curious|busy|quiet|strange|nice] [picture|scene|image].", rng))
    elif r < 0.5:
        g = pick(rng, scene.groups())
        parts.append(
            expand("I [like|love|noticed] the {color} {shapes}[ here|].", rng,
                   {"color": g.color, "shapes": plural(g.shape, g.count)})
        )
    elif r < 0.6:
        parts.append(expand("I [took|found|drew] this [yesterday|last week|this morning].", rng))
    q = question_text(question, scene, rng)
    if not first and rng.random() < 0.2:
        q = pick(rng, ("And", "Now,", "Also,")) + " " + q[0].lower() + q[1:]
    parts.append(q)
    return " ".join(parts)


def _make_sample(spec: CharacterSpec, rng: np.random.Generator, sample_id: str, split: Split) -> Sample:
    scene = random_scene(rng, side=64)
    n_prior = int(rng.integers(1, 4))
    questions: list[Question] = []
    while len(questions) < n_prior + 1:
        q = random_question(scene, rng)
        if q not in questions:
            questions.append(q)
    turns: list[Turn] = []
    for i, q in enumerate(questions):
        turns.append(Turn("user", "Human", user_turn(spec, scene, q, rng, first=i == 0)))
        if i < n_prior:
            turns.append(Turn("assistant", spec.name, mmrole_reply(spec, scene, q, rng)))
    reference = mmrole_reply(spec, scene, questions[-1], rng)
    return Sample(sample_id, "mmrole", scene, tuple(turns), spec.profile, reference, split, scene)


def _plan(split: Split, seed: int) -> tuple[str, tuple[CharacterSpec, ...], tuple[int, ...]]:
    if split is Split.TEST_OOD:
        return "test_ood", HELD_OUT_CHARACTERS, tuple(range(MMROLE_SIZES[Split.TEST_OOD]))
    pool_size = sum(MMROLE_SIZES[s] for s in MMROLE_FRACTIONS)
    indices = split_indices(seed, "mmrole", pool_size, tuple(MMROLE_FRACTIONS.items()))[split]
    return "train", IN_DISTRIBUTION_CHARACTERS, indices


def mmrole_samples(split: Split | str, *, seed: int = 0, n: int | None = None) -> list[Sample]:
    """The samples ``synthetic_samples("mmrole", split, seed=seed, n=n)`` returns (see
    :func:`~lam_envs.data.synthetic.synthetic_samples`): :data:`MMROLE_SIZES` per split, the held-out characters
    only in ``test_ood``."""
    return split_samples("mmrole", MMROLE_SIZES, _plan, _make_sample, split, seed, n)
