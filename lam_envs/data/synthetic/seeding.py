"""How the synthetic generators derive their randomness and their splits from one user seed.

Each generated sample belongs to a *pool* (e.g. the in-distribution pool of MMRole) and has an index in it. Its
generator is seeded by ``(seed, task, pool, index)``, so a sample is the same whichever split, ``n`` or order it
is asked for in, and nothing depends on global RNG state. The in-distribution splits are then cut from the pool's
indices with :func:`lam_envs.data.splits.split_by_fraction`, seeded by ``(seed, task)``.

:func:`generate_samples` is the one loop both task generators run: each task says only which pool, members and
indices a split draws (its *plan*) and how one sample is made from a member and its generator.
"""

from __future__ import annotations

import functools
import logging
from typing import Callable, Mapping, Sequence, TypeVar

import numpy as np

from lam_envs.data.splits import split_by_fraction
from lam_envs.data.types import Sample, Split, Task
from lam_envs.tasks import task_spec

logger = logging.getLogger(__name__)

M = TypeVar("M")
SplitPlan = Callable[[Split, int], "tuple[str, Sequence[M], Sequence[int]]"]
"""``(split, seed) -> (pool, members, indices)``: the pool a split is drawn from, the members (personas) its samples
cycle through, and the pool indices of the split's samples in order."""
MakeSample = Callable[[M, np.random.Generator, str, Split], Sample]
"""``(member, rng, sample_id, split) -> Sample``: one sample of a task from a member and its own generator."""

_CORPUS_CODES: dict[str, int] = {"paired": 3, "text": 4}
"""Seed codes of the pretraining corpora; each task's own is its registry entry's ``seed_code``."""
_POOL_CODES: dict[str, int] = {"train": 1, "test_id": 2, "test_ood": 3, "corpus": 4}


def seed_code(name: str) -> int:
    """The number of a task (its registry entry's ``seed_code``) or corpus (``"paired"``, ``"text"``) in seeds.

    Raises:
        ValueError: naming the valid tasks, for an unknown name.
    """
    if name in _CORPUS_CODES:
        return _CORPUS_CODES[name]
    return task_spec(name).seed_code


def sample_rng(seed: int, task: str, pool: str, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of ``pool`` for ``task`` under ``seed``.

    Raises:
        ValueError: if ``seed`` or ``index`` is negative (``SeedSequence`` needs non-negative entropy).
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    return np.random.default_rng([seed, seed_code(task), _POOL_CODES[pool], index])


@functools.lru_cache(maxsize=32)
def split_indices(
    seed: int, task: Task, pool_size: int, fractions: tuple[tuple[Split, float], ...]
) -> Mapping[Split, tuple[int, ...]]:
    """Pool indices of each split, cut with :func:`split_by_fraction` under a seed derived from ``(seed, task)``."""
    split_seed = int(np.random.SeedSequence([seed, seed_code(task)]).generate_state(1)[0])
    parts = split_by_fraction(list(range(pool_size)), dict(fractions), seed=split_seed)
    return {split: tuple(idx) for split, idx in parts.items()}


def check_n(n: int | None, available: int, task: str, split: Split) -> int:
    """Resolve ``n`` (``None`` = all) against what the split holds.

    Raises:
        ValueError: if ``n`` is negative or larger than the split.
    """
    if n is None:
        return available
    if not 0 <= n <= available:
        raise ValueError(
            f"the synthetic {task} {split.value} split holds {available} samples; asked for n={n} "
            f"(use n <= {available}, or another seed for fresh samples)"
        )
    return n


@functools.lru_cache(maxsize=32)
def generate_samples(
    task: str, split: Split, seed: int, n: int, plan: SplitPlan, make_sample: MakeSample
) -> tuple[Sample, ...]:
    """The first ``n`` samples of ``split``: sample ``i`` of the split's pool is made from member ``i`` (cycling)
    with generator :func:`sample_rng` ``(seed, task, pool, i)`` and id ``<task>-<seed>-<pool>-<i:05d>``.

    Cached (samples are frozen), so asking again for a split costs nothing."""
    pool, members, indices = plan(split, seed)
    out = [
        make_sample(members[i % len(members)], sample_rng(seed, task, pool, i), f"{task}-{seed}-{pool}-{i:05d}", split)
        for i in indices[:n]
    ]
    logger.debug("generated %d synthetic %s samples for %s (seed %d)", len(out), task, split.value, seed)
    return tuple(out)


def split_samples(
    task: str,
    sizes: Mapping[Split, int],
    plan: SplitPlan,
    make_sample: MakeSample,
    split: Split | str,
    seed: int,
    n: int | None,
) -> list[Sample]:
    """Parse ``split``, resolve ``n`` against ``sizes`` (:func:`check_n`) and return the samples
    (:func:`generate_samples`) as a new list.

    Raises:
        ValueError: if the split is unknown or ``n`` exceeds the split's size.
    """
    split = Split.parse(split)
    return list(generate_samples(task, split, seed, check_n(n, sizes[split], task, split), plan, make_sample))
