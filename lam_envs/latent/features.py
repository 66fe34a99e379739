"""Frozen backbone states for training the latent model, computed once per run.

The backbone never trains, so its hidden states along each training answer are computed once (under
``inference_mode``, via :meth:`Backbone.hidden_states`) and reused by every stage and step. Three kinds of data:

* **paired**: image-text examples (the tasks' SFT splits and the paired corpus), each run twice, with and without
  its image; the answer tokens are identical, so the two runs align per answer token (projector training);
* **text-only**: dialogues from the text corpus, no image;
* **task**: the tasks' SFT samples alone (optional task SFT of the world model).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from lam_envs.backbone.adapter import Backbone
from lam_envs.backbone.inputs import Context
from lam_envs.data.prompts import PromptStyle, sample_messages
from lam_envs.data.types import ImageSource, Sample
from lam_envs.files import load_tensor_archive
from lam_envs.latent.config import LatentConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """One training answer in its context, before the image is rendered."""

    image: ImageSource | None
    messages: tuple[tuple[str, str], ...]
    answer: str

    def context(self, with_image: bool = True) -> Context:
        """The backbone context, with or without the image."""
        image = self.image.load() if (with_image and self.image is not None) else None
        return Context(image, list(self.messages))


def sample_example(sample: Sample, style: PromptStyle = "compact") -> Example:
    """A task sample as a training example: the agent's prompt and the reference reply."""
    return Example(sample.image, tuple(sample_messages(sample, style)), sample.reference)


@dataclass
class Features:
    """Padded backbone states of a set of examples (see :meth:`Backbone.hidden_states` for the layout).

    Attributes:
        states: (N, T + 1, d) states of the examples as given (with their image, if any).
        targets: (N, T) long target token ids.
        mask: (N, T) bool, True on real targets.
        text_states: (N, T + 1, d) states of the same examples without their image (paired data only), else None.
    """

    states: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    text_states: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.states.shape[0])

    def __post_init__(self) -> None:
        n, t = self.targets.shape
        if self.states.shape[:2] != (n, t + 1) or self.mask.shape != (n, t):
            raise ValueError(
                f"inconsistent feature shapes: states {tuple(self.states.shape)}, targets {(n, t)}, "
                f"mask {tuple(self.mask.shape)}; expected states (N, T + 1, d) and mask (N, T)"
            )
        if self.text_states is not None and self.text_states.shape != self.states.shape:
            raise ValueError(f"text_states {tuple(self.text_states.shape)} must match states {tuple(self.states.shape)}")

    @property
    def state_mask(self) -> torch.Tensor:
        """(N, T + 1) bool: the valid states (position 0, the prompt's last token, is always valid)."""
        return torch.cat([torch.ones_like(self.mask[:, :1]), self.mask], dim=1)

    def batch(self, index: torch.Tensor, device: torch.device | str = "cpu") -> Features:
        """Rows ``index`` as float32 on ``device``, trimmed to the longest row in the batch."""
        longest = max(1, int(self.mask[index].sum(1).max()))
        text = None if self.text_states is None else self.text_states[index, : longest + 1].to(device).float()
        return Features(
            self.states[index, : longest + 1].to(device).float(),
            self.targets[index, :longest].to(device),
            self.mask[index, :longest].to(device),
            text,
        )

    def split(self, n_first: int) -> tuple[Features, Features]:
        """The first ``n_first`` rows and the rest."""
        head = slice(0, n_first)
        tail = slice(n_first, len(self))

        def part(s: slice) -> Features:
            text = None if self.text_states is None else self.text_states[s]
            return Features(self.states[s], self.targets[s], self.mask[s], text)

        return part(head), part(tail)

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """The fields as a dict of tensors (``text_states`` left out when there is none), for :func:`save_features`."""
        out = {"states": self.states, "targets": self.targets, "mask": self.mask}
        if self.text_states is not None:
            out["text_states"] = self.text_states
        return out


FEATURES_FORMAT = 1
"""Version of the layout :func:`save_features` writes."""
_FEATURE_FIELDS = {"states", "targets", "mask", "text_states"}


def save_features(path: str | Path, paired: Features, text: Features | None, n_task: int) -> None:
    """Write a run's features as tensors and plain containers only (readable with ``weights_only=True``).

    Args:
        path: The file (``features.pt`` of a run directory).
        paired: Paired features; the first ``n_task`` rows are the task examples.
        text: Text-only features, or ``None``.
        n_task: Number of task rows at the head of ``paired``.
    """
    archive = {
        "format": FEATURES_FORMAT,
        "paired": paired.to_tensors(),
        "text": None if text is None else text.to_tensors(),
        "n_task": int(n_task),
    }
    torch.save(archive, path)


def load_features(path: str | Path) -> tuple[Features, Features | None, int]:
    """Read what :func:`save_features` wrote, without running any code from the file.

    Returns:
        ``(paired, text, n_task)``.

    Raises:
        LatentConfigError: if the file is unreadable, crafted (any object beyond tensors and plain containers), from
            another version, or its tensors are inconsistent; the message names the file and the fix.
    """
    path = Path(path)
    fix = f"delete {path} to recompute the features (or run `lam pretrain` without --resume)"
    archive = load_tensor_archive(path, LatentConfigError, fix)
    if not isinstance(archive, dict) or archive.get("format") != FEATURES_FORMAT:
        found = archive.get("format") if isinstance(archive, dict) else type(archive).__name__
        raise LatentConfigError(f"{path} is not a features file of format {FEATURES_FORMAT} (found {found!r}); {fix}")

    def features(key: str, fields: Any) -> Features:
        if not (
            isinstance(fields, dict)
            and {"states", "targets", "mask"} <= set(fields) <= _FEATURE_FIELDS
            and all(isinstance(v, torch.Tensor) for v in fields.values())
        ):
            raise LatentConfigError(f"{path}: {key!r} must map states, targets, mask (, text_states) to tensors; {fix}")
        dtypes = {k: v.dtype for k, v in fields.items()}
        if (dtypes["targets"] != torch.long or dtypes["mask"] != torch.bool
                or not all(dtypes[k].is_floating_point for k in ("states", "text_states") if k in dtypes)):
            raise LatentConfigError(
                f"{path}: {key!r} has dtypes {dtypes}; expected floating states, long targets and a bool mask; {fix}"
            )
        try:
            return Features(**fields)
        except ValueError as exc:
            raise LatentConfigError(f"{path}: {key!r}: {exc}; {fix}") from None

    paired = features("paired", archive.get("paired"))
    text = None if archive.get("text") is None else features("text", archive["text"])
    n_task = archive.get("n_task")
    if not isinstance(n_task, int) or isinstance(n_task, bool) or not 0 <= n_task <= len(paired):
        raise LatentConfigError(f"{path}: n_task={n_task!r} must be an int in [0, {len(paired)}]; {fix}")
    return paired, text, n_task


def _pad_cat(chunks: Sequence[torch.Tensor], length: int, fill: float | int | bool) -> torch.Tensor:
    padded = []
    for c in chunks:
        pad = length - c.shape[1]
        if pad:
            shape = (c.shape[0], pad, *c.shape[2:])
            c = torch.cat([c, torch.full(shape, fill, dtype=c.dtype, device=c.device)], dim=1)
        padded.append(c)
    return torch.cat(padded)


def extract_features(
    backbone: Backbone,
    examples: Sequence[Example],
    *,
    with_text_twin: bool = False,
    max_answer_tokens: int = 48,
    batch_size: int = 32,
    storage_dtype: torch.dtype = torch.bfloat16,
    progress: bool = False,
    desc: str = "features",
) -> Features:
    """Run the frozen backbone over ``examples`` and keep its states along each answer (on the CPU).

    Args:
        backbone: The frozen backbone.
        examples: What to encode.
        with_text_twin: Also run each example without its image (paired data for the projectors).
        max_answer_tokens: Targets (answer + EOS) kept per example.
        batch_size: Examples per forward.
        storage_dtype: Dtype the states are kept in (bfloat16 halves memory; batches come back as float32).
        progress: Show a progress bar.
        desc: Progress-bar label.

    Returns:
        The features, rows in the order of ``examples``.
    """
    if not examples:
        raise ValueError("extract_features needs at least one example")
    states, targets, masks, text_states = [], [], [], []
    starts = range(0, len(examples), batch_size)
    for start in tqdm(starts, desc=desc, disable=not progress, unit="batch"):
        chunk = examples[start : start + batch_size]
        answers = [e.answer for e in chunk]
        h, t, m = backbone.hidden_states([e.context() for e in chunk], answers, max_answer_tokens)
        states.append(h.to("cpu", storage_dtype))
        targets.append(t.cpu())
        masks.append(m.cpu())
        if with_text_twin:
            ht, tt, _ = backbone.hidden_states([e.context(with_image=False) for e in chunk], answers, max_answer_tokens)
            if not torch.equal(tt.cpu(), t.cpu()):
                raise RuntimeError("the image and text-only runs of a paired batch disagree on the answer tokens")
            text_states.append(ht.to("cpu", storage_dtype))
    length = max(t.shape[1] for t in targets)
    return Features(
        _pad_cat(states, length + 1, 0.0),
        _pad_cat(targets, length, backbone.pad_token_id),
        _pad_cat(masks, length, False),
        _pad_cat(text_states, length + 1, 0.0) if with_text_twin else None,
    )


def draw_indices(rng: np.random.Generator, size: int, n: int) -> list[int]:
    """``n`` distinct indices below ``size`` (all of them, shuffled, when ``n >= size``)."""
    return [int(i) for i in rng.permutation(size)[: min(n, size)]]
