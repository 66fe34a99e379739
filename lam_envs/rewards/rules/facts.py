"""Checkable claims about a synthetic scene: what a reply says about colours, shapes, counts, sizes, positions, place.

A reply is read left to right into :class:`Mention` s (``"two red circles"`` is one count claim, ``"a blue star"``
one colour-shape claim, ``"at the top left"`` one position claim, ``"in the park"`` one place claim), each true or
false of the :class:`~lam_envs.data.scenes.Scene`. Judges then credit precision over distinct claims, so listing
every colour and shape buys many false claims and loses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

from lam_envs.data.scenes import COLORS, COLUMNS, LOCATIONS, ROWS, SHAPES, Scene
from lam_envs.rewards.rules.text import DIGIT_WORDS, NUMBER_WORDS, TextStats

_SHAPE_FORMS: dict[str, str] = {}
for _shape in SHAPES:
    _SHAPE_FORMS[_shape] = _shape
    _SHAPE_FORMS[_shape + ("es" if _shape.endswith(("s", "x", "ss")) else "s")] = _shape
_OBJECT_WORDS = frozenset({"object", "objects", "shape", "shapes", "thing", "things", "item", "items"})
_SIZE_FORMS: dict[str, str] = {"small": "small", "tiny": "small", "medium": "medium", "large": "large", "big": "large"}
_ROW_FORMS: dict[str, int] = {"top": 0, "upper": 0, "middle": 1, "bottom": 2, "lower": 2}
_COL_FORMS: dict[str, int] = {"left": 0, "centre": 1, "center": 1, "right": 2}
_CENTRE_FORMS = frozenset({"centre", "center", "middle"})
_COUNT_WORDS: dict[str, int] = {
    **{k: v for k, v in NUMBER_WORDS.items() if k not in ("no", "zero", "single", "pair")},
    **{d: NUMBER_WORDS[w] for d, w in DIGIT_WORDS.items() if w in NUMBER_WORDS},
}
LOCATION_SET = frozenset(LOCATIONS)

SCENE_WORDS: frozenset[str] = frozenset(
    set(COLORS) | set(_SHAPE_FORMS) | set(_SIZE_FORMS) | set(_ROW_FORMS) | set(_COL_FORMS) | _CENTRE_FORMS
    | set(LOCATIONS) | set(_COUNT_WORDS) | _OBJECT_WORDS | set(ROWS) | set(COLUMNS) | {"corner"}
)  # fmt: skip


@dataclass(frozen=True)
class Mention:
    """One claim about the scene.

    Attributes:
        kind: ``"count"``, ``"pair"`` (colour + shape), ``"color"``, ``"shape"``, ``"size"``, ``"position"`` or
            ``"place"``.
        key: a canonical form, so repeating a claim does not count twice (e.g. ``("count", 2, "red", "circle")``).
        true: whether the scene bears it out.
    """

    kind: str
    key: tuple
    true: bool


def _shape_of(word: str) -> str | None:
    return _SHAPE_FORMS.get(word)


def _check_position(scene: Scene, row: int | None, col: int | None) -> bool:
    return any((row is None or o.row == row) and (col is None or o.col == col) for o in scene.objects)


def extract_mentions(stats: TextStats, scene: Scene, ignore: Collection[str] = ()) -> list[Mention]:
    """Read the claims a text makes about ``scene``.

    Args:
        stats: the text.
        scene: the ground truth.
        ignore: words not to read as scene words (e.g. a character's own lexicon, where ``"star"`` may be a noun
            of their trade rather than a shape).

    Returns:
        The claims, in reading order (repeats included; use :class:`FactCheck` for distinct-claim precision).
    """
    toks = stats.tokens
    n = len(toks)
    out: list[Mention] = []
    used = [False] * n
    # Counts: a number, up to two adjectives (size/colour), then a shape or a generic object word.
    for i, w in enumerate(toks):
        if w not in _COUNT_WORDS or w in ignore:
            continue
        color = None
        for j in range(i + 1, min(i + 4, n)):
            t = toks[j]
            if t in ignore:
                break
            if t in COLORS:
                color = t
                continue
            if t in _SIZE_FORMS:
                continue
            shape = _shape_of(t)
            if shape is not None or t in _OBJECT_WORDS:
                value = _COUNT_WORDS[w]
                true = scene.count(color, shape) == value
                out.append(Mention("count", ("count", value, color, shape), true))
                for k in range(i, j + 1):
                    used[k] = True
            break
    for i, w in enumerate(toks):
        if used[i] or w in ignore:
            continue
        if w in COLORS:
            # Colour + optional size + shape is one claim about a colour-shape group.
            shape = None
            for j in range(i + 1, min(i + 3, n)):
                if toks[j] in ignore:
                    break
                shape = _shape_of(toks[j])
                if shape is not None or toks[j] not in _SIZE_FORMS:
                    break
            if shape is not None:
                out.append(Mention("pair", ("pair", w, shape), scene.count(w, shape) > 0))
                used[j] = True
            else:
                out.append(Mention("color", ("color", w), w in scene.colors))
        elif w in _SHAPE_FORMS:
            shape = _SHAPE_FORMS[w]
            out.append(Mention("shape", ("shape", shape), shape in scene.shapes))
        elif w in _SIZE_FORMS and i + 1 < n and (toks[i + 1] in COLORS or toks[i + 1] in _SHAPE_FORMS):
            # Only a size that qualifies an object is a claim ("a small point of reference" is not).
            size = _SIZE_FORMS[w]
            color = toks[i + 1] if toks[i + 1] in COLORS else None
            shape = _shape_of(toks[i + 2]) if color and i + 2 < n else _shape_of(toks[i + 1])
            true = any(
                o.size == size and color in (None, o.color) and shape in (None, o.shape) for o in scene.objects
            )
            out.append(Mention("size", ("size", size, color, shape), true))
        elif w in LOCATION_SET:
            out.append(Mention("place", ("place", w), w == scene.location))
        elif w in _ROW_FORMS and i + 1 < n and toks[i + 1] in _COL_FORMS:
            row, col = _ROW_FORMS[w], _COL_FORMS[toks[i + 1]]
            used[i + 1] = True
            out.append(Mention("position", ("position", row, col), _check_position(scene, row, col)))
        elif i > 0 and toks[i - 1] == "the" and (w in _ROW_FORMS or w in _COL_FORMS):
            # "at the top", "on the left", "in the middle": a row, a column or the centre cell.
            if w in _CENTRE_FORMS:
                row, col = 1, 1
            elif w in _ROW_FORMS:
                row, col = _ROW_FORMS[w], None
            else:
                row, col = None, _COL_FORMS[w]
            out.append(Mention("position", ("position", row, col), _check_position(scene, row, col)))
    return out


@dataclass(frozen=True)
class FactCheck:
    """Distinct true and false claims of a text.

    Attributes:
        true_keys: distinct claims the scene bears out.
        false_keys: distinct claims it contradicts.
    """

    true_keys: frozenset[tuple]
    false_keys: frozenset[tuple]

    @classmethod
    def of(cls, mentions: list[Mention]) -> FactCheck:
        return cls(
            frozenset(m.key for m in mentions if m.true), frozenset(m.key for m in mentions if not m.true)
        )

    @property
    def n_true(self) -> int:
        return len(self.true_keys)

    @property
    def n_false(self) -> int:
        return len(self.false_keys)

    @property
    def precision(self) -> float:
        """True share of distinct claims; 1 when the text claims nothing (it said nothing wrong)."""
        total = self.n_true + self.n_false
        return self.n_true / total if total else 1.0

    def false_of_kind(self, *kinds: str) -> int:
        """How many distinct false claims are of the given kinds."""
        return sum(1 for k in self.false_keys if k[0] in kinds)


def scene_slots() -> dict[str, str]:
    """Scene words mapped to their slot (``"red" -> "<color>"``, ``"circles" -> "<shape>"``...) for the fluency
    model's word pairs."""
    slots: dict[str, str] = {}
    for group, words in (
        ("<color>", COLORS),
        ("<shape>", _SHAPE_FORMS),
        ("<size>", _SIZE_FORMS),
        ("<num>", _COUNT_WORDS),
        ("<place>", LOCATIONS),
        ("<pos>", (*_ROW_FORMS, *_COL_FORMS)),
    ):
        slots.update(dict.fromkeys(words, group))
    slots["zero"] = "<num>"
    return slots
