"""How samples become the backbone's contexts (image and chat messages) in an env."""

from __future__ import annotations

from typing import Sequence

from lam_envs.backbone import Context
from lam_envs.data.prompts import sample_messages
from lam_envs.data.types import Sample


def contexts_for(samples: Sequence[Sample], style: str, whole: bool = False) -> list[Context]:
    """Backbone contexts (image and chat messages) for ``samples`` (``whole``: every turn, see ``sample_messages``)."""
    return [Context(s.image.load(), sample_messages(s, style, whole)) for s in samples]  # type: ignore[arg-type]
