"""Prefilling a reply in progress equals prefill + one step per token (how a resumed run rebuilds its rows)."""

from __future__ import annotations

import pytest
import torch

from lam_envs.backbone import Backbone, Context


def test_prefill_with_suffixes_equals_stepping(backbone: Backbone, contexts: list[Context]) -> None:
    generator = torch.Generator().manual_seed(0)
    suffixes = [torch.randint(0, backbone.vocab_size, (n,), generator=generator).tolist() for n in (3, 0, 5, 1)]
    suffixes = suffixes[: len(contexts)]
    direct = backbone.prefill(contexts, suffixes)
    for row, (context, suffix) in enumerate(zip(contexts, suffixes)):
        state = backbone.prefill([context])
        for token in suffix:
            backbone.step(state, torch.tensor([token]))
        torch.testing.assert_close(direct.h[row], state.h[0], rtol=1e-4, atol=1e-4)
    # Both go on decoding the same way.
    nxt = backbone.lm_head(direct.h).argmax(-1)
    after = backbone.step(direct, nxt)
    assert after.shape == direct.h.shape


def test_prefill_suffix_count_must_match(backbone: Backbone, contexts: list[Context]) -> None:
    with pytest.raises(ValueError, match="pass one per context"):
        backbone.prefill(contexts, [[1]])
