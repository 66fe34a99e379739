"""The policy prior: code logits from the context embedding h_t alone.

The environment observes h_t, so a prior over h_t can initialise an off-the-shelf policy and serve as the reference
of a KL penalty computed from the observation alone. It is trained by behaviour cloning of the inverse model's codes.
"""

from __future__ import annotations

import torch
from torch import nn


class _ResidualBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 2 * width)
        self.fc2 = nn.Linear(2 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm(x))))


class PolicyPrior(nn.Module):
    """``Linear(d, w)``, residual MLP blocks, a norm and a ``w -> K`` head.

    Args:
        hidden_size: d.
        num_codes: K.
        width: Width w of the residual stream.
        num_blocks: Residual blocks.
    """

    def __init__(self, hidden_size: int, num_codes: int, width: int, num_blocks: int) -> None:
        super().__init__()
        self.inp = nn.Linear(hidden_size, width)
        self.blocks = nn.ModuleList(_ResidualBlock(width) for _ in range(num_blocks))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_codes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(..., d) -> (..., K) code logits."""
        x = self.inp(h.float())
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))
