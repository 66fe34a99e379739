from __future__ import annotations

import numpy as np
import pytest

from lam_envs.rewards.rules.text import (
    Phrases,
    TextStats,
    fluency_gate,
    fluency_score,
    length_factor,
    repetition_factor,
    saturating,
    text_bigrams,
    text_vocabulary,
    tokenize,
)

REF = (
    "Ahoy! I can see two red circles at the top left of the picture. They remind me of the lanterns on my old "
    "ship. Steady as she goes, and mind the rocks!"
)


def test_tokenize_lowercases_and_keeps_apostrophes() -> None:
    assert tokenize("It's TWO red-circles, 3!") == ["it's", "two", "red", "circles", "3"]


def test_phrases_match_single_and_multi_word_entries() -> None:
    lex = Phrases.of(["ahoy", "mind the rocks", "anchor"])
    stats = TextStats(REF + " Ahoy!")
    assert lex.hits(stats) == {"ahoy": 2, "mind the rocks": 1}
    assert lex.distinct(stats) == 2
    assert lex.without(Phrases.of(["ahoy"])).distinct(stats) == 1


def test_repetition_is_high_for_degenerate_text_only() -> None:
    assert TextStats(REF).repetition < 0.05
    assert TextStats(" ".join(["the"] * 30)).repetition > 0.9
    assert TextStats(" ".join([REF] * 4)).repetition > 0.7


def test_grammar_and_fluency_drop_for_shuffled_words() -> None:
    rng = np.random.default_rng(0)
    corpus = [REF]
    vocab, pairs = text_vocabulary(corpus), text_bigrams(corpus, {})
    ref_fluency = fluency_score(TextStats(REF), vocab, pairs, {})
    assert ref_fluency == pytest.approx(1.0)
    words = REF.split()
    for _ in range(5):
        shuffled = " ".join(words[int(i)] for i in rng.permutation(len(words)))
        assert fluency_score(TextStats(shuffled), vocab, pairs, {}) < 0.5 * ref_fluency


def test_slots_let_unseen_fillers_stay_plausible() -> None:
    slots = {"red": "<c>", "blue": "<c>"}
    pairs = text_bigrams(["I see two red circles."], slots)
    assert TextStats("I see two blue circles.").seen_bigram_fraction(pairs, slots) == 1.0
    assert TextStats("I see two blue circles.").seen_bigram_fraction(pairs, {}) < 1.0


def test_length_factor_window() -> None:
    assert length_factor(30, 30) == 1.0
    assert length_factor(60, 30) == 1.0
    assert length_factor(120, 30) == pytest.approx(0.5)
    assert length_factor(3, 30) == pytest.approx(0.2)
    assert length_factor(0, 30) == 0.0


def test_multipliers_are_one_at_reference_level() -> None:
    assert repetition_factor(0.05, 0.05) == 1.0
    assert repetition_factor(0.9, 0.0) == 0.0
    assert fluency_gate(0.9, 1.0) == 1.0
    assert fluency_gate(0.2, 1.0) == 0.0
    assert saturating(5, 2) == 1.0 and saturating(1, 2) == 0.5
