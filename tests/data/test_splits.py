from __future__ import annotations

import pytest

from lam_envs.data.splits import MMROLE_FRACTIONS, PCOGALIGN_FRACTIONS, split_by_fraction
from lam_envs.data.types import Split


def test_mmrole_fractions_cover_everything_once() -> None:
    parts = split_by_fraction(list(range(101)), MMROLE_FRACTIONS, seed=3)
    assert [len(parts[s]) for s in (Split.SFT, Split.RL, Split.TEST_ID)] == [51, 40, 10]
    assert sorted(sum(parts.values(), [])) == list(range(101))


def test_pcogalign_leaves_the_rest_unused() -> None:
    parts = split_by_fraction(list(range(100)), PCOGALIGN_FRACTIONS, seed=0)
    assert len(parts[Split.SFT]) == 50 and len(parts[Split.RL]) == 20


def test_same_seed_same_split_other_seed_other_split() -> None:
    a = split_by_fraction(list(range(50)), MMROLE_FRACTIONS, seed=1)
    b = split_by_fraction(list(range(50)), MMROLE_FRACTIONS, seed=1)
    c = split_by_fraction(list(range(50)), MMROLE_FRACTIONS, seed=2)
    assert a == b and a != c


def test_bad_fractions_are_rejected() -> None:
    with pytest.raises(ValueError, match="sum to at most 1"):
        split_by_fraction([1, 2], {Split.SFT: 0.8, Split.RL: 0.4}, seed=0)
