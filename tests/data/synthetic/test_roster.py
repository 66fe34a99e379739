from __future__ import annotations

import re
from collections import Counter

import pytest

from lam_envs.data.scenes import LOCATIONS
from lam_envs.data.synthetic.roster import CHARACTERS, INDIVIDUALS, character, individual


def test_sixteen_characters_twelve_in_distribution() -> None:
    assert len(CHARACTERS) == 16
    assert sum(not c.held_out for c in CHARACTERS) == 12
    assert len({c.name for c in CHARACTERS}) == 16


@pytest.mark.parametrize("spec", CHARACTERS, ids=lambda c: c.name)
def test_character_profile_and_lexicon_sizes(spec) -> None:
    p = spec.profile
    for text in (p.introduction, p.personality, p.experience, p.relationship, p.catchphrase):
        assert len(text.split()) >= 3
    assert len(spec.personality_words) >= 8
    assert len(spec.knowledge_words) >= 10
    assert len(spec.tone_markers) >= 5
    assert len(spec.lexicon) == len(spec.personality_words) + len(spec.knowledge_words) + len(spec.tone_markers)


def test_character_lexicons_are_disjoint() -> None:
    counts = Counter(w for c in CHARACTERS for w in c.lexicon)
    shared = sorted(w for w, n in counts.items() if n > 1)
    assert shared == []


def test_lexicons_avoid_scene_vocabulary(scene_vocabulary) -> None:
    for c in CHARACTERS:
        assert not (c.lexicon & scene_vocabulary), c.name
        words = {w.lower() for w in re.findall(r"[A-Za-z]+", c.name + " " + c.profile.catchphrase)}
        assert not (words & scene_vocabulary), c.name


def test_sixteen_individuals_with_three_or_four_roles_over_scene_locations() -> None:
    assert len(INDIVIDUALS) == 16 and sum(not i.held_out for i in INDIVIDUALS) == 12
    for ind in INDIVIDUALS:
        assert 3 <= len(ind.role_set) <= 4
        assert len(set(ind.locations)) == len(ind.locations)
        assert set(ind.locations) <= set(LOCATIONS)


def test_roles_are_unique_and_never_contain_each_other(scene_vocabulary) -> None:
    roles = [role for ind in INDIVIDUALS for _, role in ind.role_set]
    assert len(roles) == len(set(roles))
    for a in roles:
        assert not (set(a.split()) & scene_vocabulary), a
        for b in roles:
            if a != b:
                assert not re.search(rf"\b{re.escape(a)}\b", b), (a, b)


def test_lookups_and_clear_errors() -> None:
    assert character("Captain Barnacle").knowledge_words[0] == "anchor"
    assert individual("ind-01").role_at("home") == "parent"
    with pytest.raises(KeyError, match="known: Captain Barnacle"):
        character("Nobody")
    with pytest.raises(KeyError, match="ind-01"):
        individual("ind-99")
    with pytest.raises(KeyError, match="no role at 'beach'"):
        individual("ind-01").role_at("beach")
