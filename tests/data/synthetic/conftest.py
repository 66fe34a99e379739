from __future__ import annotations

import pytest

from lam_envs.data.scenes import BACKGROUNDS, COLORS, COLUMNS, LOCATIONS, ROWS, SHAPES, SIZES
from lam_envs.data.synthetic.grammar import NUMBER_WORDS, plural


@pytest.fixture(scope="session")
def scene_vocabulary() -> frozenset[str]:
    """Every word that states a fact about a synthetic image (plus the background features)."""
    words = set(COLORS) | set(SHAPES) | {plural(s) for s in SHAPES} | set(SIZES) | set(ROWS) | set(COLUMNS)
    words |= set(LOCATIONS) | set(NUMBER_WORDS) | {"center", "color"}
    words |= {feature for *_, feature in BACKGROUNDS.values()}
    return frozenset(words)
