"""Rule-based judges for the synthetic tasks: the paper's rubrics as transparent, fast, deterministic rules.

They need a sample's synthetic ground truth (scene, persona lexicons), so they judge the embedded tier only; real
data goes to the LLM judge. Use :func:`rule_judge` for a judge whose fluency model knows the task's whole synthetic
language, or build :class:`MMRoleRuleJudge` / :class:`PCogAlignRuleJudge` with your own corpus.
"""

from __future__ import annotations

import functools
import logging

from lam_envs.data.types import Split, Task
from lam_envs.rewards.rules.core import RuleJudge
from lam_envs.rewards.rules.mmrole import MMRoleRuleJudge
from lam_envs.rewards.rules.pcogalign import PCogAlignRuleJudge
from lam_envs.tasks import task_spec

__all__ = ["MMRoleRuleJudge", "PCogAlignRuleJudge", "RuleJudge", "rule_judge", "synthetic_corpus"]

logger = logging.getLogger(__name__)


CORPUS_SAMPLES_PER_SPLIT = 300
"""Samples per split that make a judge's language model: enough to see every template (the word pairs stop
growing well before this), few enough to build in about a second."""


@functools.lru_cache(maxsize=4)
def synthetic_corpus(task: Task, seed: int = 0) -> tuple[str, ...]:
    """References and dialogue turns of the task's synthetic data (the first
    :data:`CORPUS_SAMPLES_PER_SPLIT` samples of every split) for ``seed``.

    This is the judge's model of the task's language: fluency counts a word pair as plausible when this corpus
    has it (with persona, scene and situation words generalised to their slot).
    """
    spec = task_spec(task)
    sizes = spec.split_sizes()
    texts: list[str] = []
    for split in Split:
        n = min(CORPUS_SAMPLES_PER_SPLIT, sizes[split])
        for sample in spec.generate(split, seed=seed, n=n):
            texts.append(sample.reference)
            texts.extend(t.text for t in sample.dialogue)
    logger.debug("synthetic corpus for %s (seed %d): %d texts", task, seed, len(texts))
    return tuple(texts)


def rule_judge(task: Task | str) -> RuleJudge:
    """The rule-based judge for ``task`` (the class its :mod:`~lam_envs.tasks` entry names), with the task's
    synthetic corpus as its fluency model.

    Raises:
        ValueError: if ``task`` is not one of the tasks.
    """
    return task_spec(task).make_rule_judge(synthetic_corpus(task))
