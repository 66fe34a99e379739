"""How samples become the backbone's contexts (image and chat messages) in an env."""

from __future__ import annotations

from typing import Sequence

from lam_envs.backbone import Context
from lam_envs.data.prompts import sample_messages
from lam_envs.data.types import Sample


def contexts_for(
    samples: Sequence[Sample], style: str, whole: bool = False, images: Sequence[Sample] | None = None
) -> list[Context]:
    """Backbone contexts (image and chat messages) for ``samples``.

    Args:
        samples: The turns to answer.
        style: ``"full"`` or ``"compact"`` (see ``sample_messages``).
        whole: Keep every turn (see ``sample_messages``).
        images: One sample per row whose image is shown instead of the row's own (the backbone report's
            swapped-image control); ``None``: each row's own.
    """
    sources = samples if images is None else images
    return [Context(src.image.load(), sample_messages(s, style, whole))  # type: ignore[arg-type]
            for s, src in zip(samples, sources, strict=True)]
