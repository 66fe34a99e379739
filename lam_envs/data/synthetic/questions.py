"""Questions about a synthetic scene: what users ask, how to read a question back, and what a right answer says.

The generators render a :class:`Question` to text with :func:`question_text`; the judges recover it from the
user's turn with :func:`parse_question` and check a reply with :func:`answer_words`. The round trip is exact for
every question the generators write (tested on thousands of turns).

Answer words are in base form (``"circle"``, ``"colour"``, ``"centre"``, counts as words). Match them against
:func:`content_words` of a reply, which lowercases, drops punctuation and maps plurals and US spellings of scene
words back to that base form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from lam_envs.data.scenes import COLORS, SHAPES, Scene, SceneObject
from lam_envs.data.synthetic.grammar import NUMBER_WORDS, expand, number_word, pick, plural

QuestionKind = Literal["count", "color", "shape", "place", "position", "describe"]
QUESTION_KINDS: tuple[QuestionKind, ...] = ("count", "color", "shape", "place", "position", "describe")

__all__ = [
    "NUMBER_WORDS",
    "QUESTION_KINDS",
    "Question",
    "QuestionKind",
    "answer_words",
    "asked_objects",
    "content_words",
    "parse_question",
    "question_text",
    "random_question",
]


@dataclass(frozen=True)
class Question:
    """What a user asks about the image.

    Attributes:
        kind: what is asked: a count, the colour of some shape, the shape of some colour, where the picture was
            taken (``place``), where some object sits (``position``), or a general description.
        color: the colour the question is about (count/shape/position), else ``None``.
        shape: the shape the question is about (count/color/position), else ``None``.
    """

    kind: QuestionKind
    color: str | None = None
    shape: str | None = None


_PLURAL_TO_SHAPE = {plural(s): s for s in SHAPES}
_SPELLING = {"color": "colour", "colors": "colours", "center": "centre", "colored": "coloured"}
_WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")


def content_words(text: str) -> list[str]:
    """Lowercased words of ``text`` with scene words in base form (``"Circles," -> "circle"``, ``color -> colour``)."""
    out = []
    for w in _WORD.findall(text.lower()):
        w = _SPELLING.get(w, w)
        out.append(_PLURAL_TO_SHAPE.get(w, w))
    return out


_QUESTION_SENTENCE = re.compile(r"[^.!?]*\?")


def parse_question(text: str) -> Question:
    """Recover the question asked in a user turn.

    Only the last sentence ending in ``?`` is read, so comments before it do not confuse the parse. Text without a
    question (or one that matches no pattern) is a request to describe the picture.

    Args:
        text: the user's turn.

    Returns:
        The question, with ``color``/``shape`` set to the targets named in it.
    """
    found = _QUESTION_SENTENCE.findall(text)
    if not found:
        return Question("describe")
    sentence = found[-1].lower()
    words = content_words(sentence)
    wordset = set(words)
    color = next((w for w in words if w in COLORS), None)
    shape = next((w for w in words if w in SHAPES), None)
    if "how many" in sentence or "count" in wordset or "number of" in sentence:
        return Question("count", color, shape)
    if "colour" in wordset or "colours" in wordset:
        return Question("color", None, shape)
    if "shape" in wordset or "shapes" in wordset:
        return Question("shape", color, None)
    asks_where = "where" in wordset or "whereabouts" in wordset or "which part" in sentence
    if asks_where and (color or shape):
        return Question("position", color, shape)
    if asks_where or wordset & {"place", "setting", "location"}:
        return Question("place")
    return Question("describe")


def asked_objects(question: Question, scene: Scene) -> list[SceneObject]:
    """The objects a count, colour, shape or position question is about: those of its colour and shape, except that
    the attribute a colour or shape question asks for does not narrow them."""
    color = None if question.kind == "color" else question.color
    shape = None if question.kind == "shape" else question.shape
    return [o for o in scene.objects if (color is None or o.color == color) and (shape is None or o.shape == shape)]


def answer_words(question: Question, scene: Scene) -> frozenset[str]:
    """The words (base form, see :func:`content_words`) that a correct answer must contain.

    * ``count``: the number word of matching objects (``"zero"`` when none match).
    * ``color``: every colour of the objects of the asked shape (all colours when no shape is named).
    * ``shape``: every shape of the objects of the asked colour (all shapes when no colour is named).
    * ``position``: the position words of the matching objects (``"top"``, ``"left"``, ``"centre"``...).
    * ``place``: the background (``"beach"``).
    * ``describe``: the place plus the colour and shape of every group of objects.

    A question about something the scene lacks gives ``{"zero"}`` for counts and an empty set otherwise (nothing
    true can be required).
    """
    if question.kind == "count":
        return frozenset({number_word(len(asked_objects(question, scene)))})
    if question.kind == "color":
        return frozenset(o.color for o in asked_objects(question, scene))
    if question.kind == "shape":
        return frozenset(o.shape for o in asked_objects(question, scene))
    if question.kind == "position":
        return frozenset(w for o in asked_objects(question, scene) for w in o.position.split())
    if question.kind == "place":
        return frozenset({scene.background})
    words = {scene.background}
    for g in scene.groups():
        words.update((g.color, g.shape))
    return frozenset(words)


# Rendering. Every template must parse back to its question (tests/data/synthetic/test_questions.py checks).
_COUNT_BOTH = (
    "How many {color} {shapes} [are there|can you see|do you count|are in the picture]?",
    "[Can|Could] you count the {color} {shapes} [for me|]?",
    "What is the number of {color} {shapes} [here|in this picture]?",
)
_COUNT_SHAPE = (
    "How many {shapes} [are there|can you spot|are in the picture|do you see]?",
    "[Can|Could] you count the {shapes} [in this image|for me]?",
)
_COUNT_COLOR = (
    "How many {color} [things|objects|pieces] [are there|can you see|are in the picture]?",
    "[Can|Could] you count [everything that is|all the things that are] {color}?",
)
_COUNT_ALL = (
    "How many [objects|things|shapes altogether] [are there|can you count|are in the picture] [in total|]?",
    "[Can|Could] you count [all the objects|everything] in [the|this] picture?",
)
_COLOR_ONE = (
    "What [colour|color] is the {shape}?",
    "[Which|What] [colour|color] does the {shape} have?",
    "[Can|Could] you tell me the [colour|color] of the {shape}?",
)
_COLOR_MANY = (
    "What [colour|color] are the {shapes}?",
    "[Which|What] [colour|color] do the {shapes} have?",
    "[Can|Could] you tell me the [colour|colours] of the {shapes}?",
)
_SHAPE = (
    "What shape is the {color} [thing|object]?",
    "What shape [are the {color} things|do the {color} objects have]?",
    "Which shape is drawn in {color}?",
    "What kind of shape is the {color} thing?",
)
_POSITION = (
    "Where is the {color} {shape}?",
    "Where [exactly|] [is|can I find] the {color} {shape} [in the picture|]?",
    "In which part of the picture is the {color} {shape}?",
    "Whereabouts is the {color} {shape}?",
)
_POSITION_MANY = (
    "Where are the {color} {shapes}?",
    "In which part of the picture are the {color} {shapes}?",
)
_PLACE = (
    "Where was this [picture|photo] taken?",
    "What place is this?",
    "Where are we in this [picture|image]?",
    "Which place does this [show|picture]?",
    "What is the setting [here|of this picture]?",
    "Can you guess the location?",
)
_DESCRIBE = (
    "Can you describe this [picture|image|scene] [for me|]?",
    "What do you see [here|in this image]?",
    "Tell me what is going on in this [picture|image]?",
    "What do you make of this [scene|picture]?",
    "How would you describe it?",
    "What catches your eye in this [picture|image]?",
)


def question_text(question: Question, scene: Scene, rng: np.random.Generator) -> str:
    """Write ``question`` as a user would ask it about ``scene`` (singular/plural chosen from the scene)."""
    kind, color, shape = question.kind, question.color, question.shape
    if kind == "count":
        if color and shape:
            templates = _COUNT_BOTH
        elif shape:
            templates = _COUNT_SHAPE
        elif color:
            templates = _COUNT_COLOR
        else:
            templates = _COUNT_ALL
    elif kind == "color":
        if shape is None:
            raise ValueError("a colour question needs the shape it asks about; got shape=None")
        templates = _COLOR_ONE if scene.count(shape=shape) == 1 else _COLOR_MANY
    elif kind == "shape":
        if color is None:
            raise ValueError("a shape question needs the colour it asks about; got color=None")
        templates = _SHAPE
    elif kind == "position":
        if color is None or shape is None:
            raise ValueError(f"a position question needs a colour and a shape; got {color!r}, {shape!r}")
        templates = _POSITION if scene.count(color, shape) == 1 else _POSITION_MANY
    elif kind == "place":
        templates = _PLACE
    else:
        templates = _DESCRIBE
    slots = {"color": color or "", "shape": shape or "", "shapes": plural(shape) if shape else ""}
    return expand(pick(rng, templates), rng, slots)


def random_question(
    scene: Scene, rng: np.random.Generator, kinds: Sequence[QuestionKind] = QUESTION_KINDS
) -> Question:
    """A question about something the scene contains (targets are drawn from its objects).

    Args:
        scene: the scene asked about.
        rng: the caller's generator.
        kinds: the kinds to choose from, uniformly.
    """
    kind = pick(rng, kinds)
    groups = scene.groups()
    g = pick(rng, groups) if groups else None
    if g is None:
        return Question(kind if kind in ("place", "describe") else "describe")
    if kind == "count":
        variant = int(rng.integers(4))
        return Question("count", g.color if variant in (0, 2) else None, g.shape if variant in (0, 1) else None)
    if kind == "color":
        return Question("color", None, g.shape)
    if kind == "shape":
        return Question("shape", g.color, None)
    if kind == "position":
        return Question("position", g.color, g.shape)
    return Question(kind)
