from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest

from lam_envs.data.scenes import LOCATIONS, Scene
from lam_envs.data.synthetic import pcogalign_reply, synthetic_samples
from lam_envs.data.synthetic.questions import content_words
from lam_envs.data.synthetic.roster import INDIVIDUALS, individual
from lam_envs.data.synthetic.situations import situation_for
from lam_envs.data.types import Split, UserProfile

N = 300


@pytest.fixture(scope="module")
def rl() -> list:
    return synthetic_samples("pcogalign", "rl", n=N)


def test_deterministic(rl) -> None:
    assert [s.reference for s in synthetic_samples("pcogalign", "rl", n=N)] == [s.reference for s in rl]
    assert [s.reference for s in synthetic_samples("pcogalign", "rl", seed=5, n=20)] != [s.reference for s in rl[:20]]


def test_sample_shape_and_profile(rl) -> None:
    for s in rl:
        p = s.persona
        assert isinstance(p, UserProfile) and s.split is Split.RL
        assert isinstance(s.scene, Scene) and s.image is s.scene
        assert p.location == s.scene.background and p.current_role is not None
        assert p.role_set == individual(p.individual_id).role_set
        assert len(s.dialogue) == 1 and s.dialogue[0].role == "user"
        assert situation_for(p).expectation == p.expectation
        words = set(content_words(s.query))
        assert not words & set(LOCATIONS), s.query  # the place must be read from the image


def test_splits_by_individual() -> None:
    held_out = {i.individual_id for i in INDIVIDUALS if i.held_out}
    assert {s.persona.individual_id for s in synthetic_samples("pcogalign", "test_ood", n=100)} == held_out
    for split in ("sft", "rl", "test_id"):
        assert not {s.persona.individual_id for s in synthetic_samples("pcogalign", split, n=200)} & held_out
    sft = {s.id for s in synthetic_samples("pcogalign", "sft", n=300)}
    rl_ids = {s.id for s in synthetic_samples("pcogalign", "rl", n=300)}
    assert not sft & rl_ids


@pytest.mark.slow
def test_full_split_sizes() -> None:
    sizes = {split: len(synthetic_samples("pcogalign", split)) for split in Split}
    assert sizes == {Split.SFT: 3000, Split.RL: 1200, Split.TEST_ID: 800, Split.TEST_OOD: 800}


def test_references_address_role_feelings_behaviour_and_context(rl) -> None:
    all_roles = {role for ind in INDIVIDUALS for _, role in ind.role_set}
    for s in rl:
        p, ref = s.persona, s.reference
        spec = situation_for(p)
        words = content_words(ref)
        assert re.search(rf"\b{re.escape(p.current_role)}\b", ref), ref
        for role in all_roles - {p.current_role}:
            assert not re.search(rf"\b{re.escape(role)}\b", ref), (role, ref)
        assert 1 <= sum(w in spec.feeling_words for w in words) <= 2, ref
        assert 1 <= len({w for w in words if w in spec.behavior_words}) <= 2, ref
        assert p.location in words
        assert not set(words) & (set(LOCATIONS) - {p.location})
        assert {w for w in words if w in {"circle", "square", "triangle", "diamond", "star", "cross"}} <= s.scene.shapes
        assert 20 <= len(ref.split()) <= 60


def test_variety() -> None:
    refs = [s.reference for s in synthetic_samples("pcogalign", "sft", n=600)]
    assert len(set(refs)) >= 0.9 * len(refs)
    assert len(Counter(w for r in refs for w in re.findall(r"[a-z']+", r.lower()))) >= 300


def test_other_rng_gives_a_paraphrase(rl) -> None:
    s = rl[0]
    person = individual(s.persona.individual_id)
    other = pcogalign_reply(person, situation_for(s.persona), s.scene, np.random.default_rng(9))
    assert other != s.reference and s.persona.current_role in other
