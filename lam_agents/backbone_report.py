"""How good is a backbone on the synthetic tasks, on its own? (``lam backbone-report``)

For each task and test split this measures, on held-out samples:

* perplexity of the reference replies (teacher-forced through the adapter's decode path);
* greedy replies judged by the rule-based judge: mean ratio against the reference, in total and per dimension;
* the same with every sample's image swapped for another sample's: if the model reads the image, image-text
  relevance (MMRole) or contextual awareness (PCogAlign) drops.

These numbers are the base VLM's own behaviour: the reference point that latent-action policies are compared to.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from lam_envs.backbone import Backbone
from lam_envs.backbone.generate import answer_log_likelihood, greedy_replies
from lam_envs.data.prompts import PromptStyle
from lam_envs.data.synthetic import synthetic_samples
from lam_envs.data.types import Split, Task
from lam_envs.envs.prompting import contexts_for
from lam_envs.rewards.base import JudgeResult
from lam_envs.rewards.rules import rule_judge
from lam_envs.tasks import TASK_REGISTRY

logger = logging.getLogger(__name__)

IMAGE_DIMENSION: dict[str, str] = {name: spec.image_dimension for name, spec in TASK_REGISTRY.items()}


@dataclass
class SplitQuality:
    """Quality of a backbone on one task split."""

    task: str
    split: str
    n: int
    perplexity: float
    ratio: float
    ratio_std: float
    dimensions: dict[str, float]
    swapped_ratio: float
    swapped_dimensions: dict[str, float]
    examples: list[tuple[str, str, str]] = field(default_factory=list)
    """(query, greedy reply, reference) for a few samples."""


def _mean_dimensions(results: Sequence[JudgeResult]) -> dict[str, float]:
    ok = [r for r in results if not r.failed]
    if not ok:
        return {}
    keys = ok[0].dimension_ratios.keys()
    return {k: float(np.mean([r.dimension_ratios[k] for r in ok])) for k in keys}


def split_quality(
    backbone: Backbone,
    task: Task,
    split: Split,
    n: int,
    *,
    style: PromptStyle = "compact",
    seed: int = 0,
    max_new_tokens: int = 80,
    n_examples: int = 3,
) -> SplitQuality:
    """Measure ``backbone`` on the first ``n`` samples of a synthetic task split (see the module docstring)."""
    samples = synthetic_samples(task, split, seed=seed, n=n)
    contexts = contexts_for(samples, style)
    total, count = answer_log_likelihood(backbone, contexts, [s.reference for s in samples])
    replies = greedy_replies(backbone, contexts, max_new_tokens=max_new_tokens)
    judge = rule_judge(task)
    results = judge.score(samples, replies)
    # Swap images with a derangement (shift by one), keeping the dialogue: the judge still checks against the
    # sample's own scene, so a model that reads the image now describes the wrong one.
    shifted = samples[1:] + samples[:1]
    swapped = greedy_replies(backbone, contexts_for(samples, style, images=shifted), max_new_tokens=max_new_tokens)
    swapped_results = judge.score(samples, swapped)
    ratios = [r.ratio for r in results if not r.failed]
    return SplitQuality(
        task=task,
        split=split.value,
        n=len(samples),
        perplexity=math.exp(-total / count),
        ratio=float(np.mean(ratios)),
        ratio_std=float(np.std(ratios)),
        dimensions=_mean_dimensions(results),
        swapped_ratio=float(np.mean([r.ratio for r in swapped_results if not r.failed])),
        swapped_dimensions=_mean_dimensions(swapped_results),
        examples=[(s.query, r, s.reference) for s, r in zip(samples[:n_examples], replies[:n_examples])],
    )


def format_report(rows: Sequence[SplitQuality]) -> str:
    """A plain-text table of the measurements, then the per-dimension means and example replies."""
    lines = [
        f"{'task':<10} {'split':<9} {'n':>4} {'ref ppl':>8} {'judge ratio':>14} {'img swapped':>12} "
        f"{'image dim':>22}",
    ]
    for q in rows:
        dim = IMAGE_DIMENSION[q.task]
        lines.append(
            f"{q.task:<10} {q.split:<9} {q.n:>4} {q.perplexity:>8.2f} {q.ratio:>7.3f} ± {q.ratio_std:.3f} "
            f"{q.swapped_ratio:>12.3f} {q.dimensions.get(dim, float('nan')):>9.3f} -> "
            f"{q.swapped_dimensions.get(dim, float('nan')):.3f}"
        )
    for q in rows:
        lines.append(f"\n{q.task} {q.split} per dimension (greedy / image swapped):")
        for k, v in q.dimensions.items():
            lines.append(f"  {k:<26} {v:.3f} / {q.swapped_dimensions.get(k, float('nan')):.3f}")
        for query, reply, ref in q.examples:
            lines.append(f"  user: {query}\n  model: {reply}\n  reference: {ref}")
    return "\n".join(lines)
