"""The world-model merge: ``Merge(h_t, c_a)``, whose output goes through the backbone's final norm and LM head.

Two residual SwiGLU blocks read the concatenation ``[x; c_a]`` starting from ``x = h_t``. The code changes only the
read-out, never the trunk's state. A learned per-channel output gain sits before the backbone's final norm: h_t is
already final-normed, so reading it out through the norm a second time would rescale channels by the norm's weight w;
initialised to 1/w (:meth:`Merge.match_final_norm`), the gain undoes that, so with a zero residual the world model's
greedy token equals the base VLM's.
"""

from __future__ import annotations

import torch
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain (the normalisation Qwen and Llama use)."""

    def __init__(self, width: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class SwiGLUBlock(nn.Module):
    """``x + W_down(silu(W_gate [norm(x); c]) * W_up [norm(x); c])``.

    Args:
        hidden_size: d (width of x and of c).
        intermediate: Inner width.
        init_std: Std of the residual output projection's init (small, so an untrained merge stays near h_t).
    """

    def __init__(self, hidden_size: int, intermediate: int, init_std: float) -> None:
        super().__init__()
        self.norm = RMSNorm(hidden_size)
        self.gate = nn.Linear(2 * hidden_size, intermediate, bias=False)
        self.up = nn.Linear(2 * hidden_size, intermediate, bias=False)
        self.down = nn.Linear(intermediate, hidden_size, bias=False)
        nn.init.normal_(self.down.weight, std=init_std)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        z = torch.cat([self.norm(x), c], dim=-1)
        return x + self.down(nn.functional.silu(self.gate(z)) * self.up(z))


class Merge(nn.Module):
    """Residual SwiGLU blocks over ``[x; c]`` from ``x = h``, then a per-channel gain.

    Args:
        hidden_size: d.
        intermediate: Inner width of each block.
        num_blocks: Number of blocks.
        init_std: Std of each block's output projection at init.
    """

    def __init__(self, hidden_size: int, intermediate: int, num_blocks: int, init_std: float = 0.02) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(SwiGLUBlock(hidden_size, intermediate, init_std) for _ in range(num_blocks))
        self.out_gain = nn.Parameter(torch.ones(hidden_size))

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """(..., d), (..., d) -> (..., d): the pre-norm state the backbone's final norm and LM head read."""
        x = h
        for block in self.blocks:
            x = block(x, c)
        return x * self.out_gain

    @torch.no_grad()
    def match_final_norm(self, norm_weight: torch.Tensor, floor: float = 1e-2) -> None:
        """Set the output gain to ``1 / w`` for the backbone's final-norm weight ``w`` (RMS norms are
        scale-invariant, so ``norm(h / w)`` is ``h`` up to a per-row factor: same greedy token as the base VLM).

        Args:
            norm_weight: (d,) weight of the backbone's final norm.
            floor: Smallest |w| used, so a near-zero channel cannot blow the gain up.
        """
        w = norm_weight.detach().float().to(self.out_gain.device)
        w = torch.where(w.abs() < floor, torch.full_like(w, floor) * torch.where(w < 0, -1.0, 1.0), w)
        self.out_gain.copy_(1.0 / w)
