"""What an env needs from a latent action model, as a protocol (``LatentActionModel`` follows it; so may yours)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from lam_envs.backbone import Backbone


@runtime_checkable
class WorldModel(Protocol):
    """What a latent env needs from a latent action model (``lam_envs.latent.model.LatentActionModel``)."""

    config: Any  # exposes ``num_codes``

    def token_logits(self, h: torch.Tensor, codes: torch.Tensor, backbone: Backbone) -> torch.Tensor:
        """(B, d) context embeddings and (B,) codes -> (B, V) next-token logits."""
        ...

    def prior_logits(self, h: torch.Tensor) -> torch.Tensor:
        """(B, d) context embeddings -> (B, K) policy-prior logits over codes."""
        ...
