"""Backbone.hidden_states: one teacher-forced forward equals prefill plus one step per answer token."""

from __future__ import annotations

import pytest
import torch

from lam_envs.backbone import Backbone, Context


def test_matches_prefill_and_steps(backbone: Backbone, contexts: list[Context]) -> None:
    answers = ["a red square", "yes", "the circle is near the top left of the picture"]
    h, targets, mask = backbone.hidden_states(contexts, answers)
    lengths = mask.sum(1).tolist()
    assert h.shape == (3, max(lengths) + 1, backbone.hidden_size) and targets.shape == mask.shape
    for row, answer in enumerate(answers):
        expected = backbone.tokenizer(answer, add_special_tokens=False)["input_ids"] + [backbone.eos_token_id]
        assert targets[row, : lengths[row]].tolist() == expected
        assert not mask[row, lengths[row] :].any()
        assert torch.all(h[row, lengths[row] + 1 :] == 0)
    state = backbone.prefill(contexts)
    torch.testing.assert_close(h[:, 0], state.h, rtol=1e-4, atol=1e-4)
    for t in range(min(lengths)):
        backbone.step(state, targets[:, t])
        torch.testing.assert_close(h[:, t + 1], state.h, rtol=1e-4, atol=1e-4)


def test_truncation_and_errors(backbone: Backbone, contexts: list[Context]) -> None:
    h, targets, mask = backbone.hidden_states(contexts[:2], ["one two three four five", "hi"], max_answer_tokens=3)
    assert targets.shape == (2, 3) and h.shape[1] == 4 and mask[0].all()
    with pytest.raises(ValueError, match="one answer per context"):
        backbone.hidden_states(contexts, ["x"])
    with pytest.raises(ValueError, match="max_answer_tokens"):
        backbone.hidden_states(contexts[:1], ["x"], max_answer_tokens=0)
