from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from lam_envs.data.scenes import Scene
from lam_envs.data.synthetic import mmrole_reply, synthetic_samples
from lam_envs.data.synthetic.questions import answer_words, content_words, parse_question
from lam_envs.data.synthetic.roster import CHARACTERS, character
from lam_envs.data.types import CharacterProfile, Split

N = 300


@pytest.fixture(scope="module")
def rl() -> list:
    return synthetic_samples("mmrole", "rl", n=N)


def test_deterministic_and_seed_dependent(rl) -> None:
    again = synthetic_samples("mmrole", Split.RL, n=N)
    assert [s.reference for s in again] == [s.reference for s in rl]
    other = synthetic_samples("mmrole", "rl", seed=1, n=50)
    assert [s.reference for s in other] != [s.reference for s in rl[:50]]
    # A sample does not depend on how many were asked for.
    assert synthetic_samples("mmrole", "rl", n=10)[3] == rl[3]


def test_sample_shape(rl) -> None:
    for s in rl:
        assert s.task == "mmrole" and s.split is Split.RL
        assert isinstance(s.scene, Scene) and s.image is s.scene and s.scene.side == 64
        assert isinstance(s.persona, CharacterProfile)
        assert 3 <= len(s.dialogue) <= 7 and len(s.dialogue) % 2 == 1
        for i, turn in enumerate(s.dialogue):
            assert turn.role == ("user" if i % 2 == 0 else "assistant")
            assert turn.speaker == ("Human" if i % 2 == 0 else s.persona.name)
    assert len({s.id for s in rl}) == len(rl)


def test_splits_by_character_and_sizes() -> None:
    held_out = {c.name for c in CHARACTERS if c.held_out}
    ood = synthetic_samples("mmrole", "test_ood", n=200)
    assert {s.persona.name for s in ood} == held_out
    for split in ("sft", "rl", "test_id"):
        names = {s.persona.name for s in synthetic_samples("mmrole", split, n=200)}
        assert not names & held_out and len(names) == 12
    ids = {split: {s.id for s in synthetic_samples("mmrole", split, n=200)} for split in ("sft", "rl", "test_id")}
    assert not ids["sft"] & ids["rl"] and not ids["rl"] & ids["test_id"] and not ids["sft"] & ids["test_id"]
    with pytest.raises(ValueError, match="holds 800 samples"):
        synthetic_samples("mmrole", "test_id", n=801)
    with pytest.raises(ValueError, match="unknown task"):
        synthetic_samples("chess", "rl")


def _scene_claims(words: list[str], scene: Scene) -> tuple[set[str], set[str]]:
    colors = {c for c in words if c in {"red", "orange", "yellow", "green", "blue", "purple", "pink", "black", "white"}}
    shapes = {w for w in words if w in {"circle", "square", "triangle", "diamond", "star", "cross"}}
    return colors - scene.colors, shapes - scene.shapes


def test_every_turn_parses_and_every_reply_is_correct_and_true(rl) -> None:
    for s in rl:
        turns = s.dialogue
        replies = [(turns[i - 1].text, turns[i].text) for i in range(1, len(turns), 2)] + [(s.query, s.reference)]
        for question_text, reply in replies:
            q = parse_question(question_text)
            words = content_words(reply)
            missing = answer_words(q, s.scene) - set(words)
            assert not missing, (question_text, reply)
            false_colors, false_shapes = _scene_claims(words, s.scene)
            assert not false_colors and not false_shapes, reply
            places = {"home", "office", "park", "street", "beach", "classroom", "hospital", "store"} & set(words)
            assert places <= {s.scene.background}, reply


def test_references_are_in_character(rl) -> None:
    for s in rl:
        spec = character(s.persona.name)
        words = content_words(s.reference)
        own = [w for w in words if w in spec.personality_words or w in spec.knowledge_words]
        assert 1 <= len(own) <= 3, s.reference
        assert any(w in spec.tone_markers for w in words), s.reference
        others = set().union(*(c.lexicon for c in CHARACTERS if c.name != spec.name))
        assert not (set(words) & others), s.reference
        assert s.reference.count(spec.profile.catchphrase) <= 1
        assert 15 <= len(s.reference.split()) <= 45
    with_catchphrase = sum(character(s.persona.name).profile.catchphrase in s.reference for s in rl)
    assert 0.1 * len(rl) < with_catchphrase < 0.6 * len(rl)


def test_variety() -> None:
    refs = [s.reference for s in synthetic_samples("mmrole", "sft", n=1000)]
    assert len(set(refs)) >= 0.9 * len(refs)
    vocab = Counter(w for r in refs for w in re.findall(r"[a-z']+", r.lower()))
    assert len(vocab) >= 400


def test_reply_is_a_paraphrase_with_another_rng(rl) -> None:
    s = rl[0]
    spec = character(s.persona.name)
    q = parse_question(s.query)
    other = mmrole_reply(spec, s.scene, q, np.random.default_rng(123))
    assert other != s.reference
    assert answer_words(q, s.scene) <= set(content_words(other))
