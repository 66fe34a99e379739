"""Shared text statistics for the rule-based judges: tokens, sentences, phrase matching, repetition, length, fluency.

Everything here is pure Python over short replies and is computed once per text (:class:`TextStats`), so a judge
can score thousands of pairs per second on one core.

Fluency is a small hand-written grammar model rather than a learned one, because the synthetic replies are built
from templates with a closed set of function words: a word-class bigram check (a determiner is not followed by a
verb, a preposition does not end a sentence, ...) plus sentence-shape checks (sentences start with a capital, a
capitalised function word does not sit mid-sentence). Word shuffles break both kinds of cue at once, while any
grammatical paraphrase keeps them, which is the distinction the judges need.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Mapping

_WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|\d+")
_SENTENCE_RE = re.compile(r"[^.!?]+[.!?]*")

NUMBER_WORDS: dict[str, int] = {
    "zero": 0, "no": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "single": 1, "pair": 2,
}  # fmt: skip
DIGIT_WORDS: dict[str, str] = {str(v): k for k, v in NUMBER_WORDS.items() if k not in ("no", "single", "pair")}

# Closed word classes of English, enough to tell a sentence from a bag of its words.
DETERMINERS = frozenset(
    "the a an this that these those my your his her our their its every each some any another".split()
)
PREPOSITIONS = frozenset(
    "in on at of to with by for from near beside under above into onto over behind between across around through "
    "about like below among toward towards upon within".split()
)
CONJUNCTIONS = frozenset("and or but nor because while although though".split())
PRONOUNS = frozenset("i you he she we they it me him us them myself yourself".split())
AUXILIARIES = frozenset(
    "is are was were be been being am has have had do does did can could will would should shall may might must "
    "isn't aren't wasn't don't doesn't didn't can't won't i'm you're it's that's there's let's we're they're".split()
)
FUNCTION_WORDS = DETERMINERS | PREPOSITIONS | CONJUNCTIONS | PRONOUNS | AUXILIARIES | frozenset(
    "not no yes so very too also just here there what which who how where when why oh ah".split()
)
# Pairs of word classes that English (and every template of the synthetic tasks) never puts next to each other.
_BAD_PAIRS = frozenset(
    {
        ("det", "det"), ("det", "prep"), ("det", "conj"), ("det", "aux"), ("det", "pron"),
        ("prep", "prep"), ("prep", "conj"), ("prep", "aux"),
        ("conj", "conj"), ("conj", "aux"),
        ("pron", "det"),
    }
)  # fmt: skip
_BAD_ENDS = frozenset({"det", "prep", "conj"})


def word_class(word: str) -> str:
    """The closed class of a lowercase word (``det``, ``prep``, ``conj``, ``pron``, ``aux``) or ``open``."""
    if word in DETERMINERS:
        return "det"
    if word in PREPOSITIONS:
        return "prep"
    if word in CONJUNCTIONS:
        return "conj"
    if word in PRONOUNS:
        return "pron"
    if word in AUXILIARIES:
        return "aux"
    return "open"


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens of ``text`` (letters with inner apostrophes, or digit runs)."""
    return [w.lower() for w in _WORD_RE.findall(text)]


def phrase_tokens(phrase: str) -> tuple[str, ...]:
    """A lexicon entry (one or more words) as the token tuple it matches."""
    return tuple(tokenize(phrase))


@dataclass(frozen=True)
class Phrases:
    """A lexicon of phrases compiled for fast matching: single words by set lookup, longer phrases by substring.

    Attributes:
        words: the one-word phrases (lowercase).
        multi: the longer phrases as ``" w1 w2 "`` strings, matched against :attr:`TextStats.padded`.
    """

    words: frozenset[str]
    multi: tuple[str, ...]

    @classmethod
    def of(cls, phrases: Iterable[str]) -> Phrases:
        toks = [t for t in map(phrase_tokens, phrases) if t]
        return cls(
            frozenset(t[0] for t in toks if len(t) == 1),
            tuple(sorted({" " + " ".join(t) + " " for t in toks if len(t) > 1})),
        )

    def without(self, other: Phrases) -> Phrases:
        """These phrases minus those of ``other``."""
        return Phrases(self.words - other.words, tuple(k for k in self.multi if k not in other.multi))

    def __bool__(self) -> bool:
        return bool(self.words or self.multi)

    def hits(self, stats: TextStats) -> dict[str, int]:
        """``phrase -> occurrences`` for the phrases that occur in the text."""
        counts = stats.counts
        out = {w: counts[w] for w in self.words & stats.token_set}
        padded = stats.padded
        for key in self.multi:
            n = padded.count(key)
            if n:
                out[key.strip()] = n
        return out

    def distinct(self, stats: TextStats) -> int:
        """How many different phrases occur."""
        padded = stats.padded
        return len(self.words & stats.token_set) + sum(1 for key in self.multi if key in padded)


class TextStats:
    """Statistics of one text, each computed on first use and then cached.

    Args:
        text: the reply (or reference) to analyse.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def tokens(self) -> list[str]:
        """Lowercase word tokens."""
        return tokenize(self.text)

    @property
    def n(self) -> int:
        """Number of word tokens."""
        return len(self.tokens)

    @cached_property
    def padded(self) -> str:
        """``" tok1 tok2 ... "``: what phrase lexicons are matched against."""
        return " " + " ".join(self.tokens) + " "

    @cached_property
    def counts(self) -> Counter[str]:
        return Counter(self.tokens)

    @cached_property
    def token_set(self) -> frozenset[str]:
        return frozenset(self.tokens)

    @cached_property
    def sentences(self) -> list[list[str]]:
        """Word tokens with their original case, per sentence (split at ``.``, ``!``, ``?``)."""
        out = []
        for chunk in _SENTENCE_RE.findall(self.text):
            words = _WORD_RE.findall(chunk)
            if words:
                out.append(words)
        return out

    @cached_property
    def repetition(self) -> float:
        """Share of repeated n-grams in ``[0, 1]``: 0 for no repeats, near 1 for ``"the the the ..."``.

        Uses trigrams (bigrams for texts under 8 tokens): ``1 - distinct / total``.
        """
        toks = self.tokens
        k = 3 if len(toks) >= 8 else 2
        if len(toks) < k + 1:
            return 0.0
        grams = [tuple(toks[i : i + k]) for i in range(len(toks) - k + 1)]
        return 1.0 - len(set(grams)) / len(grams)

    @cached_property
    def grammar(self) -> float:
        """Share of word transitions and sentence shapes that pass the grammar checks, in ``[0, 1]``.

        One check per adjacent word pair (class bigram, no mid-sentence capitalised function word, no immediate
        repeat of a word) plus two per sentence (capital start, no dangling determiner/preposition/conjunction).
        """
        checks = 0
        bad = 0
        for words in self.sentences:
            lower = [w.lower() for w in words]
            classes = [word_class(w) for w in lower]
            checks += 2
            if not (words[0][0].isupper() or words[0][0].isdigit()):
                bad += 1
            if classes[-1] in _BAD_ENDS:
                bad += 1
            for i in range(1, len(words)):
                checks += 1
                w = words[i]
                if (classes[i - 1], classes[i]) in _BAD_PAIRS or lower[i] == lower[i - 1]:
                    bad += 1
                elif w[0].isupper() and classes[i] != "open" and lower[i] != "i":
                    bad += 1
        if checks == 0:
            return 0.0
        return 1.0 - bad / checks

    def slotted_bigrams(self, slots: Mapping[str, str]) -> list[str]:
        """Adjacent word pairs inside each sentence, each word replaced by its slot when ``slots`` has one."""
        out = []
        for words in self.sentences:
            lower = [w.lower() for w in words]
            lower = [slots.get(w, w) for w in lower]
            out.extend(f"{a} {b}" for a, b in zip(lower, lower[1:]))
        return out

    def seen_bigram_fraction(self, bigrams: frozenset[str] | set[str], slots: Mapping[str, str]) -> float:
        """Share of the text's (slotted) word pairs found in ``bigrams`` (1 for a one-word text)."""
        own = self.slotted_bigrams(slots)
        if not own:
            return 1.0 if self.tokens else 0.0
        return sum(1 for b in own if b in bigrams) / len(own)

    def known_fraction(self, vocabulary: frozenset[str] | set[str]) -> float:
        """Share of tokens found in ``vocabulary`` (or in the function words, or numbers)."""
        if not self.tokens:
            return 0.0
        known = sum(1 for w in self.tokens if w in vocabulary or w in FUNCTION_WORDS or w.isdigit())
        return known / len(self.tokens)


def saturating(hits: int, cap: int) -> float:
    """Credit for ``hits`` distinct lexicon hits, saturating at ``cap`` (so stuffing more words earns nothing)."""
    if cap <= 0:
        return 1.0
    return min(hits, cap) / cap


def length_factor(n: int, n_ref: int, low: float = 0.5, high: float = 2.0) -> float:
    """Shared multiplier for reply length relative to the reference.

    1 inside ``[low, high] * n_ref`` tokens; below, it falls linearly to 0 at 0 tokens; above, as ``high / r``
    (so 4x the reference keeps half the credit and 8x a quarter).
    """
    if n <= 0:
        return 0.0
    r = n / max(n_ref, 1)
    if r < low:
        return r / low
    if r > high:
        return high / r
    return 1.0


def repetition_factor(rep: float, rep_ref: float) -> float:
    """Shared multiplier for degenerate repetition: 1 up to the reference's own level (+ slack), 0 at 0.5 above."""
    threshold = max(0.1, rep_ref + 0.08)
    if rep <= threshold:
        return 1.0
    return max(0.0, 1.0 - (rep - threshold) / 0.5)


def text_bigrams(texts: Iterable[str], slots: Mapping[str, str]) -> set[str]:
    """All within-sentence word pairs of ``texts`` with slot words replaced by their slot (see
    :meth:`TextStats.slotted_bigrams`): the judges' reference-language model.

    Slots (``"red" -> "<color>"``) let the model generalise over the words a template can hold, so ``"two green
    stars"`` is plausible once ``"two red circles"`` was seen.
    """
    out: set[str] = set()
    for text in texts:
        out.update(TextStats(text).slotted_bigrams(slots))
    return out


def text_vocabulary(texts: Iterable[str]) -> set[str]:
    """All word tokens of ``texts``."""
    out: set[str] = set()
    for text in texts:
        out.update(tokenize(text))
    return out


def fluency_score(
    stats: TextStats,
    vocabulary: frozenset[str] | set[str],
    bigrams: frozenset[str] | set[str],
    slots: Mapping[str, str],
) -> float:
    """Fluency in ``[0, 1]``: grammar checks x word-pair plausibility x known words.

    Each failed grammar check costs three times its share (a sentence with one broken transition in ten keeps
    70%), word pairs count as plausible when the reference language has them (credit is full at 85% seen) and
    more than 10% unknown words scale the score down.

    Args:
        stats: the text.
        vocabulary: words of the reference language.
        bigrams: word pairs of the reference language (see :func:`text_bigrams`).
        slots: the word -> slot map the pairs were built with.
    """
    if stats.n == 0:
        return 0.0
    grammar = max(0.0, 1.0 - 3.0 * (1.0 - stats.grammar))
    pairs = min(1.0, stats.seen_bigram_fraction(bigrams, slots) / 0.85)
    known = min(1.0, stats.known_fraction(vocabulary) / 0.9)
    return grammar * pairs * known


def fluency_gate(fluency: float, fluency_ref: float) -> float:
    """Shared multiplier that withholds content credit from incomprehensible text.

    A judge cannot credit facts or persona in a word salad; at 85% of the reference's fluency or better the gate is
    open (1), and it closes linearly to 0 at 25%.
    """
    x = fluency / max(fluency_ref, 0.5)
    return min(1.0, max(0.0, (x - 0.25) / 0.6))
