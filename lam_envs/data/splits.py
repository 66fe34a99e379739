"""Seeded, documented splits.

The paper's splits (see ``../shared/DESIGN.md`` §6):

* MMRole: the in-distribution dialogues are split 50% SFT / 40% RL / 10% in-distribution test; the
  out-of-distribution test comes from its own file (held-out characters).
* PCogAlign: the training file is split 50% SFT / 20% RL (the remaining 30% is unused, as in the paper); the
  in-distribution and out-of-distribution tests come from the test files of the two location sets.

Splits are by record, shuffled with a generator seeded by ``seed`` only, so the same file and seed always give the
same split, independent of any global RNG state.
"""

from __future__ import annotations

from typing import Mapping, Sequence, TypeVar

import numpy as np

from lam_envs.data.types import Split

T = TypeVar("T")

MMROLE_FRACTIONS: Mapping[Split, float] = {Split.SFT: 0.5, Split.RL: 0.4, Split.TEST_ID: 0.1}
PCOGALIGN_FRACTIONS: Mapping[Split, float] = {Split.SFT: 0.5, Split.RL: 0.2}


def split_by_fraction(items: Sequence[T], fractions: Mapping[Split, float], seed: int) -> dict[Split, list[T]]:
    """Shuffle ``items`` with ``seed`` and cut them into consecutive parts of the given fractions.

    Parts are cut in the order of ``fractions``; each gets ``floor(fraction * n)`` items except that rounding
    leftovers go to the parts in order until the fractions' total share is used. Fractions may sum to less than 1
    (the rest is unused) but not more.

    Args:
        items: the records to split (their order only matters together with the seed).
        fractions: share of the items for each split.
        seed: shuffling seed.

    Returns:
        ``split -> items`` for each split in ``fractions``.

    Raises:
        ValueError: if a fraction is negative or they sum to more than 1.
    """
    if any(f < 0 for f in fractions.values()) or sum(fractions.values()) > 1 + 1e-9:
        raise ValueError(f"split fractions must be non-negative and sum to at most 1, got {dict(fractions)}")
    n = len(items)
    order = np.random.default_rng(seed).permutation(n)
    sizes = [int(np.floor(f * n + 1e-9)) for f in fractions.values()]
    target = min(n, int(round(sum(fractions.values()) * n)))
    i = 0
    while sum(sizes) < target:
        sizes[i % len(sizes)] += 1
        i += 1
    out: dict[Split, list[T]] = {}
    start = 0
    for split, size in zip(fractions, sizes):
        out[split] = [items[j] for j in order[start : start + size]]
        start += size
    return out
