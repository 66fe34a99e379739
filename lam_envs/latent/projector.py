"""Cross-modal projectors: diagonal Gaussians mapping text-only states e^T to image-text states e^VT and back.

``P: e^T -> e^VT`` lets text-only data stand in for paired data (its mean replaces the text-only states before the
inverse and world models); ``P': e^VT -> e^T`` closes the cycle, whose NLL on text-only data keeps P from throwing
away what the text said.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class GaussianProjector(nn.Module):
    """Mean ``Linear(d, d/2), Tanh, Linear(d/2, d)``; log-variance the same plus a final Tanh, bounded to (-1, 1).

    Args:
        hidden_size: d.
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        half = hidden_size // 2
        self.mean = nn.Sequential(nn.Linear(hidden_size, half), nn.Tanh(), nn.Linear(half, hidden_size))
        self.log_var = nn.Sequential(nn.Linear(hidden_size, half), nn.Tanh(), nn.Linear(half, hidden_size), nn.Tanh())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(..., d) -> (mean (..., d), log-variance (..., d) in (-1, 1))."""
        return self.mean(x), self.log_var(x)

    def nll(self, x: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Mean per-token Gaussian negative log-likelihood (nats, summed over channels) of ``target`` given ``x``.

        Args:
            x: (..., d) inputs.
            target: (..., d) what the projection should explain.
            valid: (...) bool mask of the tokens that count; ``None`` counts all.
        """
        return gaussian_nll(*self(x), target, valid)


def gaussian_nll(
    mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean over tokens of the diagonal-Gaussian NLL, summed over channels (constant included)."""
    per_channel = 0.5 * (log_var + (target.float() - mean) ** 2 * torch.exp(-log_var) + math.log(2 * math.pi))
    per_token = per_channel.sum(-1)
    if valid is None:
        return per_token.mean()
    return per_token[valid].mean()


class CrossModalProjector(nn.Module):
    """The forward projector P (text -> image-text) and the reverse projector P' (image-text -> text)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.forward_proj = GaussianProjector(hidden_size)
        self.reverse_proj = GaussianProjector(hidden_size)

    def to_vision_text(self, text_states: torch.Tensor) -> torch.Tensor:
        """The mean of P(e^T): pseudo image-text states for text-only data."""
        return self.forward_proj.mean(text_states.float())

    def cycle_nll(self, text_states: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """NLL of e^T under P'(mean of P(e^T)): the cycle-consistency loss on text-only data."""
        return self.reverse_proj.nll(self.to_vision_text(text_states), text_states, valid)

    def paired_nll(
        self, text_states: torch.Tensor, vision_states: torch.Tensor, valid: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(NLL of e^VT under P(e^T), NLL of e^T under P'(e^VT))`` on paired data, aligned per token."""
        forward = self.forward_proj.nll(text_states.float(), vision_states, valid)
        reverse = self.reverse_proj.nll(vision_states.float(), text_states, valid)
        return forward, reverse
