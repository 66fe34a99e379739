"""The backbone speaks whichever KV-cache keyword the installed transformers wants, and raises no deprecation."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from lam_envs.backbone import Backbone, Context
from lam_envs.backbone.loading import cache_keyword


class _OldStyle(nn.Module):
    def forward(self, inputs_embeds=None, attention_mask=None, position_ids=None, past_key_values=None,
                use_cache=None):  # noqa: ANN001, ANN201
        return None


class _NewStyle(nn.Module):
    def forward(self, inputs_embeds=None, attention_mask=None, position_ids=None, cache=None,
                use_cache=None):  # noqa: ANN001, ANN201
        return None


def test_cache_keyword_follows_the_forward_signature() -> None:
    assert cache_keyword(_OldStyle()) == "past_key_values"
    assert cache_keyword(_NewStyle()) == "cache"


def test_installed_text_model_gets_its_own_keyword(backbone: Backbone) -> None:
    import inspect

    parameters = inspect.signature(backbone.family.text_model.forward).parameters
    assert backbone._cache_kw in parameters


def test_prefill_step_and_hidden_states_raise_no_deprecation(backbone: Backbone) -> None:
    contexts = [Context(None, [("user", "hello there")]), Context(None, [("user", "what is this?")])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state = backbone.prefill(contexts)
        for _ in range(3):
            backbone.step(state, torch.full((2,), backbone.eos_token_id, dtype=torch.long))
        backbone.hidden_states(contexts, ["yes", "a circle"])
