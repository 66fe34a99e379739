"""The fused world-model read-out (env steps, evaluation) equals the module path (training): greedy tokens
exactly, logits within float tolerance; its per-code tables follow weight updates; gradients still flow."""

from __future__ import annotations

import torch

from lam_envs.backbone import Backbone
from lam_envs.latent.model import random_latent_model


def reference_logits(model, h: torch.Tensor, codes: torch.Tensor, backbone: Backbone) -> torch.Tensor:
    with torch.no_grad():
        return model.readout(model.merged_states(h, codes), backbone)


def states(backbone: Backbone, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, backbone.hidden_size, generator=g)
    return backbone.final_norm(h).detach()


def test_fused_readout_matches_the_modules(backbone: Backbone) -> None:
    model = random_latent_model(backbone, num_codes=32, seed=3)
    h = states(backbone, 256, 0)
    codes = torch.randint(0, 32, (256,), generator=torch.Generator().manual_seed(1))
    want = reference_logits(model, h, codes, backbone)
    with torch.inference_mode():
        got = model.token_logits(h, codes, backbone)
        tokens = model.greedy_tokens(h, codes, backbone)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert torch.equal(tokens, want.argmax(-1))
    assert tokens.dtype == torch.long and tokens.shape == (256,)
    # Outside inference mode the logits are an ordinary tensor (callers may change them in place).
    with torch.no_grad():
        plain = model.token_logits(h, codes, backbone)
    assert not plain.is_inference()
    plain.div_(2.0)


def test_tables_follow_weight_updates(backbone: Backbone) -> None:
    model = random_latent_model(backbone, num_codes=16, seed=4)
    h = states(backbone, 32, 2)
    codes = torch.arange(32) % 16
    model.greedy_tokens(h, codes, backbone)  # builds the tables
    with torch.no_grad():
        model.codebook.weight.mul_(3.0)
        model.merge.blocks[0].up.weight.add_(0.5)
    want = reference_logits(model, h, codes, backbone)
    with torch.inference_mode():
        torch.testing.assert_close(model.token_logits(h, codes, backbone), want, rtol=1e-4, atol=1e-4)
    assert "_tables" not in model.state_dict()


def test_gradients_take_the_module_path(backbone: Backbone) -> None:
    model = random_latent_model(backbone, num_codes=16, seed=5).train()
    h = states(backbone, 8, 3)
    codes = torch.arange(8)
    loss = model.token_logits(h, codes, backbone).logsumexp(-1).sum()
    loss.backward()
    assert model.merge.blocks[0].gate.weight.grad is not None
    assert model.codebook.weight.grad is not None
