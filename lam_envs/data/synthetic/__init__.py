"""Embedded synthetic versions of the two tasks and the pretraining corpora, generated from a seed.

* :func:`synthetic_samples` gives the typed samples of a task (see :mod:`.mmrole` and :mod:`.pcogalign`), through
  the generator its :mod:`~lam_envs.tasks` entry names.
* :mod:`.roster` holds the personas and their lexicons, :mod:`.situations` the PCogAlign situations, and
  :mod:`.questions` the questions about a scene with their checkable answers; the rule-based judges score against
  these.
* :mod:`.corpora` holds the paired image-text and text-only corpora for pretraining.
"""

from __future__ import annotations

from lam_envs.data.synthetic.mmrole import MMROLE_SIZES, mmrole_reply, mmrole_samples
from lam_envs.data.synthetic.pcogalign import PCOGALIGN_SIZES, pcogalign_reply, pcogalign_samples
from lam_envs.data.types import Sample, Split, Task
from lam_envs.tasks import task_spec

__all__ = [
    "MMROLE_SIZES",
    "PCOGALIGN_SIZES",
    "mmrole_reply",
    "mmrole_samples",
    "pcogalign_reply",
    "pcogalign_samples",
    "synthetic_samples",
]


def synthetic_samples(task: Task | str, split: Split | str, *, seed: int = 0, n: int | None = None) -> list[Sample]:
    """Samples of a synthetic task.

    Args:
        task: a registered task (:data:`lam_envs.tasks.TASK_REGISTRY`: ``"mmrole"``, ``"pcogalign"``).
        split: ``"sft"``, ``"rl"``, ``"test_id"`` or ``"test_ood"``.
        seed: generation seed; the same seed always gives the same samples.
        n: how many (the first ``n`` of the split); the whole split when ``None``.

    Returns:
        ``n`` samples; each sample's ``image`` and ``scene`` are the same 64-pixel
        :class:`~lam_envs.data.scenes.Scene`.

    Raises:
        ValueError: if the task or split is unknown, or ``n`` exceeds the split's size.
    """
    return task_spec(task).generate(split, seed=seed, n=n)
