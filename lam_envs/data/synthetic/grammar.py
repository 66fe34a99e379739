"""Phrase machinery shared by the synthetic generators: a tiny alternation grammar plus scene phrasing.

Templates use ``[a|b|c]`` for a choice between alternatives (nested freely, ``[a|]`` for an optional part) and
``{slot}`` for a value filled in by the caller. Every choice draws from the caller's ``np.random.Generator``, so the
same generator state always gives the same text. Parsed templates are cached, so expanding is cheap.

Scene phrasing (:func:`group_phrase`, :func:`scene_facts`) only ever states what the scene's ground truth says, so
any sentence built from it is true of the image.
"""

from __future__ import annotations

import functools
import re
from typing import Mapping, Sequence, TypeVar, Union

import numpy as np

from lam_envs.data.scenes import ObjectGroup, Scene

T = TypeVar("T")

NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six")
"""Counts as words, used everywhere a number is said (scenes hold at most six objects)."""

_PLACE_PREPOSITIONS: dict[str, str] = {
    "home": "at home",
    "office": "in the office",
    "park": "in the park",
    "street": "on the street",
    "beach": "at the beach",
    "classroom": "in the classroom",
    "hospital": "at the hospital",
    "store": "in the store",
}

_Node = Union[str, "tuple[tuple[_Node, ...], ...]"]  # text, or a choice between alternative sequences
_SLOT = re.compile(r"\{([A-Za-z_0-9]+)\}")


def number_word(n: int) -> str:
    """``n`` as a word (``0 -> "zero"`` .. ``6 -> "six"``).

    Raises:
        ValueError: if ``n`` is outside 0..6 (synthetic scenes never hold more objects).
    """
    if not 0 <= n < len(NUMBER_WORDS):
        raise ValueError(f"no number word for {n}; synthetic counts go from 0 to {len(NUMBER_WORDS) - 1}")
    return NUMBER_WORDS[n]


def plural(noun: str, n: int = 2) -> str:
    """English plural of a scene noun when ``n != 1`` (``cross -> crosses``)."""
    if n == 1:
        return noun
    return noun + ("es" if noun.endswith(("s", "x", "sh", "ch")) else "s")


def article(word: str) -> str:
    """``"a"`` or ``"an"`` for ``word``."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def place_phrase(location: str) -> str:
    """The location with its natural preposition (``"beach" -> "at the beach"``, ``"home" -> "at home"``)."""
    return _PLACE_PREPOSITIONS.get(location, f"at the {location}")


def pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    """One element of ``options``, uniformly.

    Raises:
        ValueError: if ``options`` is empty.
    """
    if not options:
        raise ValueError("cannot pick from an empty sequence of options")
    return options[int(rng.integers(len(options)))]


def sample_distinct(rng: np.random.Generator, options: Sequence[T], k: int) -> list[T]:
    """``k`` distinct elements of ``options`` (all of them, shuffled, when ``k >= len(options)``)."""
    pool = list(options)
    out = []
    for _ in range(min(k, len(pool))):
        out.append(pool.pop(int(rng.integers(len(pool)))))
    return out


def join_words(items: Sequence[str], conjunction: str = "and") -> str:
    """``["a", "b", "c"] -> "a, b and c"``."""
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


@functools.lru_cache(maxsize=4096)
def _parse(template: str) -> tuple[_Node, ...]:
    nodes, end = _parse_seq(template, 0, top=True)
    if end != len(template):  # pragma: no cover - _parse_seq consumes everything at top level or raises
        raise ValueError(f"unbalanced ']' in template {template!r}")
    return nodes


def _parse_seq(t: str, i: int, top: bool) -> tuple[tuple[_Node, ...], int]:
    """Parse from ``t[i]`` up to the end (top level) or to the ``|``/``]`` closing this alternative."""
    out: list[_Node] = []
    buf: list[str] = []
    while i < len(t):
        ch = t[i]
        if ch == "[":
            if buf:
                out.append("".join(buf))
                buf = []
            alts: list[tuple[_Node, ...]] = []
            i += 1
            while True:
                seq, i = _parse_seq(t, i, top=False)
                alts.append(seq)
                if i >= len(t):
                    raise ValueError(f"unclosed '[' in template {t!r}")
                if t[i] == "]":
                    i += 1
                    break
                i += 1  # skip '|'
            out.append(tuple(alts))
        elif ch in "|]":
            if top:
                raise ValueError(f"'{ch}' outside brackets at position {i} of template {t!r}")
            break
        else:
            buf.append(ch)
            i += 1
    if buf:
        out.append("".join(buf))
    return tuple(out), i


def _realise(nodes: tuple[_Node, ...], rng: np.random.Generator, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        else:
            _realise(node[int(rng.integers(len(node)))], rng, out)


def expand(template: str, rng: np.random.Generator, slots: Mapping[str, str] | None = None) -> str:
    """Realise ``template``: choose one alternative per ``[..|..]`` and fill ``{slot}`` from ``slots``.

    Args:
        template: the template text.
        rng: the caller's generator.
        slots: values for the ``{name}`` placeholders.

    Returns:
        The text with single spaces and no space before punctuation.

    Raises:
        KeyError: if the template names a slot that ``slots`` does not provide.
        ValueError: if the brackets are unbalanced.
    """
    parts: list[str] = []
    _realise(_parse(template), rng, parts)
    text = "".join(parts)
    if "{" in text:
        values = slots or {}

        def fill(m: re.Match[str]) -> str:
            try:
                return values[m.group(1)]
            except KeyError:
                raise KeyError(f"template slot {{{m.group(1)}}} has no value; got slots {sorted(values)}") from None

        text = _SLOT.sub(fill, text)
    return tidy(text)


_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.!?;:])")
_DOUBLE_PUNCT = re.compile(r"([,;:])\s*([,.!?;:])")
_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([a-z])")


def tidy(text: str) -> str:
    """Normalise spacing and punctuation and capitalise sentence starts."""
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _DOUBLE_PUNCT.sub(r"\2", text)
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), text)


def join_sentences(sentences: Sequence[str]) -> str:
    """Join sentences with single spaces, adding a full stop where one is missing."""
    done = []
    for s in sentences:
        s = s.strip()
        if not s:
            continue
        if s[-1] not in ".!?":
            s += "."
        done.append(s[0].upper() + s[1:])
    return tidy(" ".join(done))


# --- scene phrasing -------------------------------------------------------------------------------------------


def group_phrase(group: ObjectGroup, rng: np.random.Generator, *, with_size: bool | None = None) -> str:
    """A true noun phrase for a group: ``"two small red circles"``, ``"a blue star"``.

    Args:
        group: the group to name.
        rng: the caller's generator.
        with_size: say the size (only when the group has a single size); random when ``None``.
    """
    size_ok = len(group.sizes) == 1
    say_size = size_ok and (bool(rng.integers(2)) if with_size is None else with_size)
    adjectives = ([group.sizes[0]] if say_size else []) + [group.color]
    noun = plural(group.shape, group.count)
    if group.count == 1:
        det = pick(rng, (article(adjectives[0]), article(adjectives[0]), "one", "a single"))
        return f"{det} {' '.join(adjectives)} {noun}"
    return f"{number_word(group.count)} {' '.join(adjectives)} {noun}"


def group_positions(scene: Scene, group: ObjectGroup) -> list[str]:
    """Where the objects of ``group`` sit, in words, in reading order."""
    return [o.position for o in scene.objects if o.color == group.color and o.shape == group.shape]


def position_phrase(positions: Sequence[str], rng: np.random.Generator) -> str:
    """``["top left"] -> "in the top left [corner]"``; several positions are listed."""
    words = []
    for p in positions:
        if p == "centre":
            words.append("the centre")
        elif p.split()[0] in ("top", "bottom") and p.split()[1] in ("left", "right") and rng.random() < 0.5:
            words.append(f"the {p} corner")
        else:
            words.append(f"the {p}")
    return ("in " if len(words) == 1 else "at ") + join_words(words)


def scene_facts(
    scene: Scene,
    rng: np.random.Generator,
    *,
    k: int = 1,
    exclude: Sequence[ObjectGroup] = (),
    position_p: float = 0.5,
) -> list[str]:
    """Up to ``k`` short true clauses about distinct groups of ``scene`` (e.g. ``"a blue star in the centre"``).

    Args:
        scene: the scene.
        rng: the caller's generator.
        k: how many facts at most.
        exclude: groups already talked about.
        position_p: probability of saying where a group is.
    """
    groups = [g for g in scene.groups() if g not in exclude]
    facts = []
    for g in sample_distinct(rng, groups, k):
        phrase = group_phrase(g, rng)
        if rng.random() < position_p:
            phrase += " " + position_phrase(group_positions(scene, g), rng)
        facts.append(phrase)
    return facts


def there_be(scene: Scene) -> str:
    """``"is"`` or ``"are"``, agreeing with the first group of :func:`scene_summary` (the largest one)."""
    groups = scene.groups()
    return "is" if groups and groups[0].count == 1 else "are"


def scene_summary(scene: Scene, rng: np.random.Generator) -> str:
    """A noun phrase listing every group, e.g. ``"two red circles and a blue star"``."""
    return join_words([group_phrase(g, rng) for g in scene.groups()])
