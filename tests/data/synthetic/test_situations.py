from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from lam_envs.data.synthetic.grammar import expand
from lam_envs.data.synthetic.roster import CHARACTERS
from lam_envs.data.synthetic.situations import SITUATIONS, situation, situation_for
from lam_envs.data.types import UserProfile


def test_at_least_ten_kinds_with_unique_expectations() -> None:
    assert len(SITUATIONS) >= 10
    assert len({s.kind for s in SITUATIONS}) == len(SITUATIONS)
    assert len({s.expectation for s in SITUATIONS}) == len(SITUATIONS)


@pytest.mark.parametrize("spec", SITUATIONS, ids=lambda s: s.kind)
def test_lexicon_sizes_and_suggestions_use_their_word(spec) -> None:
    assert len(spec.feeling_words) >= 4 and len(spec.behavior_words) >= 4
    assert len(spec.suggestions) == len(spec.behavior_words)
    for word, phrase in zip(spec.behavior_words, spec.suggestions):
        assert word in phrase.split()
    assert len(spec.query_templates) >= 3


def test_lexicons_disjoint_across_kinds_and_from_characters_and_scene(scene_vocabulary) -> None:
    counts = Counter(w for s in SITUATIONS for w in s.feeling_words + s.behavior_words)
    assert [w for w, n in counts.items() if n > 1] == []
    character_words = frozenset().union(*(c.lexicon for c in CHARACTERS))
    assert not (set(counts) & character_words)
    assert not (set(counts) & scene_vocabulary)


def test_queries_never_name_the_place(scene_vocabulary) -> None:
    rng = np.random.default_rng(0)
    for spec in SITUATIONS:
        for template in spec.query_templates:
            for _ in range(5):
                text = expand(template, rng)
                assert text.endswith("?")
                assert not ({w.strip(".,?!'").lower() for w in text.split()} & scene_vocabulary), text


def test_situation_for_finds_by_expectation() -> None:
    spec = situation("tired")
    profile = UserProfile("ind-01", (("home", "parent"),), "home", "a tired parent", spec.expectation)
    assert situation_for(profile) is spec
    with pytest.raises(KeyError, match="only works on synthetic"):
        situation_for(UserProfile("x", (), "home", "", "something else"))
    with pytest.raises(KeyError, match="known: lost"):
        situation("nope")
