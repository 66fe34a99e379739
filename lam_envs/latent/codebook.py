"""The codebook: K code embeddings of width d (code a has embedding c_a)."""

from __future__ import annotations

import torch
from torch import nn


class Codebook(nn.Module):
    """K x d code embeddings, used as a K -> d linear map on a one-hot (or straight-through soft) code.

    Args:
        num_codes: K.
        hidden_size: d.
        init_std: Std of the normal initialisation (1: the scale of the RMS-normed state a code is concatenated
            with, so that even an untrained code changes the read-out).
    """

    def __init__(self, num_codes: int, hidden_size: int, init_std: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_codes, hidden_size) * init_std)

    @property
    def num_codes(self) -> int:
        """K."""
        return int(self.weight.shape[0])

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """Embeddings of integer codes: (...,) long -> (..., d)."""
        return nn.functional.embedding(codes, self.weight)

    def mix(self, weights: torch.Tensor) -> torch.Tensor:
        """Embeddings of (soft or one-hot) code distributions: (..., K) -> (..., d).

        Straight-through Gumbel codes arrive here: a one-hot in the forward pass whose gradient flows to the logits.
        """
        return weights.to(self.weight.dtype) @ self.weight
