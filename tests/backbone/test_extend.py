"""Appending a user turn to some rows (dialogue episodes) equals prefilling their whole history, and leaves the
other rows alone."""

from __future__ import annotations

import pytest
import torch

from lam_envs.backbone import Backbone, Context


def _random_ids(backbone: Backbone, lengths: list[int], seed: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, backbone.vocab_size, (n,), generator=generator).tolist() for n in lengths]


def test_extend_equals_prefill_of_the_whole_history(backbone: Backbone, contexts: list[Context]) -> None:
    replies = _random_ids(backbone, [4, 2, 6], 0)[: len(contexts)]
    turns = _random_ids(backbone, [5, 9, 1], 1)[: len(contexts)]
    state = backbone.prefill(contexts)
    for step in range(max(len(r) for r in replies)):
        # Rows decode in lockstep; a row whose reply is over keeps stepping on its last token, like the env's rows.
        backbone.step(state, torch.tensor([r[min(step, len(r) - 1)] for r in replies]))
    stepped = [r + [r[-1]] * (max(len(x) for x in replies) - len(r)) for r in replies]
    untouched = state.h[1].clone()
    extended = [0, 2] if len(contexts) > 2 else [0]
    backbone.extend(state, extended, [turns[r] for r in extended])
    torch.testing.assert_close(state.h[1], untouched)
    reference = backbone.prefill(contexts, [s + (turns[r] if r in extended else []) for r, s in enumerate(stepped)])
    torch.testing.assert_close(state.h, reference.h, rtol=1e-4, atol=1e-4)
    # Every row holds exactly its own tokens: no dead columns are left between them.
    assert torch.equal(state.attention_mask.sum(dim=1), reference.attention_mask.sum(dim=1))
    assert torch.equal(state.next_pos, reference.next_pos)
    # Both go on decoding the same way.
    for _ in range(3):
        nxt = backbone.lm_head(reference.h).argmax(-1)
        assert torch.equal(backbone.lm_head(state.h).argmax(-1), nxt)
        backbone.step(state, nxt)
        backbone.step(reference, nxt)
        torch.testing.assert_close(state.h, reference.h, rtol=1e-4, atol=1e-4)


def test_extend_checks_its_arguments(backbone: Backbone, contexts: list[Context]) -> None:
    state = backbone.prefill(contexts)
    with pytest.raises(ValueError, match="one list per row"):
        backbone.extend(state, [0, 1], [[1]])
    with pytest.raises(ValueError, match="distinct"):
        backbone.extend(state, [0, 0], [[1], [2]])
    with pytest.raises(ValueError, match="at least one token"):
        backbone.extend(state, [0], [[]])
    assert backbone.extend(state, [], []) is state
