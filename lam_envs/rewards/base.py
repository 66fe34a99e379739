"""The reward protocol: judges score a batch of (sample, reply) pairs against the samples' references.

Every judge (rule-based or LLM) reports, per pair, the candidate's and the reference's score on each of the task's
dimensions, and the paper's ratio: sum of candidate scores / sum of reference scores (1.0 = as good as the
reference). A judge that fails on a pair says so in :attr:`JudgeResult.error`; it never invents a score.
:func:`check_results` holds any judge (built-in or custom) to that contract: a result that breaks it is a failure.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

from lam_envs.data.types import Sample, Task
from lam_envs.tasks import TASK_REGISTRY

MMROLE_DIMENSIONS: tuple[str, ...] = TASK_REGISTRY["mmrole"].dimensions
PCOGALIGN_DIMENSIONS: tuple[str, ...] = TASK_REGISTRY["pcogalign"].dimensions
DIMENSIONS: dict[str, tuple[str, ...]] = {name: spec.dimensions for name, spec in TASK_REGISTRY.items()}
"""The built-in tasks' dimensions (each task's entry in :mod:`lam_envs.tasks` defines them)."""


class JudgeError(RuntimeError):
    """A judge could not score a reply (raised when the judge is configured to raise)."""


@dataclass(frozen=True)
class JudgeResult:
    """The judgement of one reply.

    Attributes:
        candidate: score of the reply on each dimension, on a 0-10 scale (empty when the judge failed).
        reference: score of the reference on each dimension (empty when the judge failed).
        error: why the judge failed on this pair, or ``None``.
    """

    candidate: dict[str, float] = field(default_factory=dict)
    reference: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def ratio(self) -> float:
        """Sum of candidate scores over sum of reference scores; NaN when the judge failed."""
        if self.failed:
            return math.nan
        ref = sum(self.reference.values())
        return sum(self.candidate.values()) / ref if ref > 0 else 0.0

    @property
    def dimension_ratios(self) -> dict[str, float]:
        """Per-dimension candidate/reference ratios.

        Scores are on the judges' 0-10 scale; a reference score below 1 is floored at 1 so that a dimension the
        reference itself barely meets cannot blow the ratio up.
        """
        if self.failed:
            return {}
        return {k: v / max(self.reference.get(k, 0.0), 1.0) for k, v in self.candidate.items()}

    @classmethod
    def failure(cls, error: str) -> JudgeResult:
        return cls(error=error)


@runtime_checkable
class Reward(Protocol):
    """What an environment needs from a judge.

    Attributes:
        task: the task this judge scores.
        dimensions: the dimension names it reports, in order.
    """

    task: Task
    dimensions: tuple[str, ...]

    def score(self, samples: Sequence[Sample], replies: Sequence[str]) -> list[JudgeResult]:
        """Judge ``replies[i]`` as the answer to ``samples[i]``; one result per pair, in order."""
        ...


def check_results(results: object, count: int) -> list[JudgeResult]:
    """A judge's output for ``count`` replies, with every result that breaks the protocol turned into a failure.

    The contract: a list of exactly ``count`` :class:`JudgeResult` objects; a result that did not fail has finite
    candidate and reference scores and a positive sum of reference scores (the ratio's denominator).

    Args:
        results: What ``Reward.score`` returned.
        count: How many replies it was given.

    Returns:
        ``count`` results, in order; a wrong-length or non-list answer fails every reply.
    """
    if not isinstance(results, (list, tuple)) or len(results) != count:
        size = f"{len(results)} results" if isinstance(results, (list, tuple)) else f"a {type(results).__name__}"
        error = f"the judge returned {size} for {count} replies; Reward.score must return one JudgeResult per reply"
        return [JudgeResult.failure(error) for _ in range(count)]
    return [_check_result(r) for r in results]


def _check_result(result: object) -> JudgeResult:
    if not isinstance(result, JudgeResult):
        return JudgeResult.failure(f"the judge returned {type(result).__name__} {result!r:.60}, not a JudgeResult")
    if result.failed:
        return result
    for side, scores in (("candidate", result.candidate), ("reference", result.reference)):
        for name, value in scores.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                return JudgeResult.failure(f"the judge's {side} score {name}={value!r} is not a finite number")
    if not sum(result.reference.values()) > 0:
        return JudgeResult.failure(
            f"the judge's reference scores {result.reference} sum to {sum(result.reference.values())}; the ratio "
            "needs a positive reference sum"
        )
    return result
