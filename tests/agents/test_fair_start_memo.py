"""The start head's memo: the update re-reads the rollout's start logits instead of running the frozen head again;
the values are the head's, the memo is bounded in bytes and forgets on new start weights."""

from __future__ import annotations

import torch
from torch import nn

from lam_agents.fair_start import StartPlusResidual


class CountingHead(nn.Module):
    def __init__(self, d: int, a: int) -> None:
        super().__init__()
        self.lin = nn.Linear(d, a)
        self.rows = 0

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        self.rows += h.shape[0]
        return self.lin(h)


def test_memo_reuses_rows_and_equals_the_head() -> None:
    torch.manual_seed(0)
    head = CountingHead(8, 5)
    net = StartPlusResidual(latent_dim=4, num_actions=5, start=head, hidden_size=8)
    rollout = torch.randn(32, 8)
    steps = [net.start_logits(rollout[i : i + 4]) for i in range(0, 32, 4)]  # the rollout, 4 envs per step
    assert head.rows == 32
    minibatch = rollout[torch.randperm(32)[:16]]
    got = net.start_logits(minibatch)
    assert head.rows == 32  # every row was seen: no forward
    with torch.no_grad():
        torch.testing.assert_close(got, head.lin(minibatch), rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.cat(steps), net.start_logits(rollout), rtol=0, atol=0)
    extra = torch.cat([rollout[:2], torch.randn(3, 8)])  # a progress feature after h_t is ignored
    net.start_logits(torch.cat([extra, torch.ones(5, 1)], dim=1))
    assert head.rows == 35


def test_memo_is_bounded_and_forgets_new_weights() -> None:
    head = CountingHead(8, 16)
    net = StartPlusResidual(latent_dim=4, num_actions=16, start=head, hidden_size=8)
    net.memo_bytes = 10 * 16 * 4  # ten rows of 16 float32 logits
    net.start_logits(torch.randn(25, 8))
    assert len(net.__dict__["_memo"]) == 10
    before = head.rows
    state = net.state_dict()
    state["start.lin.bias"] = state["start.lin.bias"] + 1.0
    net.load_state_dict(state)
    assert "_memo" not in net.__dict__
    x = torch.randn(3, 8)
    with torch.no_grad():
        torch.testing.assert_close(net.start_logits(x), head.lin(x))
    assert head.rows == before + 3
    net.memo_bytes = 0
    net.start_logits(x)
    assert head.rows == before + 6  # memo off: computed again
