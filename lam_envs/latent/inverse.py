"""The inverse dynamics model: which code explains the step from h_t to the observed token x_{t+1}?

A few causal transformer layers run over *detached* hidden states; the output at position t+1 (which has already
seen token x_{t+1}) gives the logits over K codes for step t. During training a straight-through Gumbel-softmax
with a temperature picks the code, with noise drawn from a caller's seeded ``torch.Generator``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class InverseDynamics(nn.Module):
    """Causal transformer layers, a norm and a d -> K head.

    Args:
        hidden_size: d.
        num_codes: K.
        num_layers: Transformer layers.
        num_heads: Attention heads.
    """

    def __init__(self, hidden_size: int, num_codes: int, num_layers: int, num_heads: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                hidden_size,
                num_heads,
                dim_feedforward=2 * hidden_size,
                dropout=0.0,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)
        self.head = nn.Linear(hidden_size, num_codes)

    def forward(self, states: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Code logits for every step of a sequence of states.

        Args:
            states: (B, T + 1, d) hidden states h_0 .. h_T (detached here: the backbone never trains).
            valid: (B, T + 1) bool, True for real positions (padding on the right); ``None`` when all are real.

        Returns:
            (B, T, K) logits; row t is the code for the step h_t -> x_{t+1}, read at position t + 1.
        """
        x = states.detach().float()
        length = x.shape[1]
        causal = torch.triu(torch.full((length, length), float("-inf"), device=x.device), diagonal=1)
        # Right padding never precedes a real position, so the causal mask alone keeps it out of real outputs.
        del valid
        for layer in self.layers:
            x = layer(x, src_mask=causal, is_causal=True)
        return self.head(self.norm(x))[:, 1:]


def gumbel_straight_through(
    logits: torch.Tensor, temperature: float, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A straight-through Gumbel-softmax sample.

    Args:
        logits: (..., K) code logits.
        temperature: Softmax temperature of the relaxed sample.
        generator: Seeded generator for the noise (on the logits' device); ``None`` disables the noise (argmax).

    Returns:
        ``(one_hot, codes)``: a (..., K) one-hot in the forward pass whose gradient is the soft sample's, and the
        (...,) long codes picked.
    """
    if generator is None:
        noisy = logits
    else:
        u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
        noisy = logits - torch.log(-torch.log(u.clamp(1e-9, 1.0 - 1e-9)))
    soft = torch.softmax(noisy / temperature, dim=-1)
    codes = noisy.argmax(-1)
    hard = nn.functional.one_hot(codes, logits.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft, codes


def usage_entropy(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the batch's mean code distribution over valid steps; maximising it fights collapse.

    Args:
        logits: (B, T, K).
        valid: (B, T) bool.

    Returns:
        A scalar in [0, log K].
    """
    probs = torch.softmax(logits.float(), dim=-1)[valid]
    mean = probs.mean(0).clamp_min(1e-12)
    return -(mean * mean.log()).sum()


def code_perplexity(codes: torch.Tensor, num_codes: int) -> tuple[float, int]:
    """Usage of hard codes: perplexity of their empirical distribution and how many codes are never used.

    Args:
        codes: (N,) long codes.
        num_codes: K.

    Returns:
        ``(perplexity in [1, K], dead codes)``.
    """
    counts = torch.bincount(codes.flatten().cpu(), minlength=num_codes).double()
    p = counts / counts.sum().clamp_min(1)
    entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
    return math.exp(entropy), int((counts == 0).sum())
