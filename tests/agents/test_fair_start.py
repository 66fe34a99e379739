"""Fair starts: the untrained policy is exactly the pretrained behaviour, the KL penalty and its bookkeeping."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from lam_agents.envs import env_parts, make_vec_env
from lam_agents.fair_start import FairStartPolicy, StartKLPenalty, start_head_spec
from lam_agents.train import TrainConfig, build_model


@pytest.mark.parametrize("env_id", ["lam/MMRole-Latent-v0", "lam/PCogAlign-Token-v0"])
def test_untrained_policy_equals_prior_or_lm_head(env_id: str, tiny_env_kwargs: dict[str, Any]) -> None:
    venv = make_vec_env(env_id, 2, 0, tiny_env_kwargs)
    config = TrainConfig(env_id=env_id, algo="ppo", fair_start=True, out="unused", tensorboard=False, verbose=0)
    model = build_model(config, venv, {"n_steps": 8, "batch_size": 16})
    parts = env_parts(venv)
    obs = torch.as_tensor(venv.reset())
    expected = (parts.world_model.prior_logits(obs) if "Latent" in env_id else parts.backbone.lm_head(obs)).detach()
    got = model.policy.get_distribution(obs).distribution.logits
    assert torch.allclose(torch.log_softmax(got, -1), torch.log_softmax(expected, -1), atol=1e-5)
    assert torch.allclose(model.policy.kl_to_start(obs), torch.zeros(2), atol=1e-6)
    # The start head is frozen (buffers, not parameters): the optimiser and TRPO never see it.
    names = [n for n, _ in model.policy.named_parameters()]
    assert not any(".start." in n for n in names) and any("residual" in n for n in names)
    assert start_head_spec(parts)["kind"] == ("prior" if "Latent" in env_id else "lm_head")


def test_kl_penalty_lowers_rewards_once_the_policy_moved(tiny_env_kwargs: dict[str, Any], tmp_path) -> None:
    venv = make_vec_env("lam/MMRole-Latent-v0", 2, 0, tiny_env_kwargs)
    config = TrainConfig(env_id="lam/MMRole-Latent-v0", algo="ppo", fair_start=True, out=str(tmp_path), verbose=0)
    model = build_model(config, venv, {"n_steps": 8, "batch_size": 16})
    with torch.no_grad():
        model.policy.action_net.residual.bias.copy_(torch.linspace(-2, 2, 16))
    assert isinstance(model.policy, FairStartPolicy)
    seen: dict[str, np.ndarray] = {}

    class Spy(StartKLPenalty):
        def _on_rollout_end(self) -> None:
            seen["before"] = self.model.rollout_buffer.rewards.copy()
            super()._on_rollout_end()
            seen["after"] = self.model.rollout_buffer.rewards.copy()

    model.learn(16, callback=Spy(0.5))
    assert (seen["after"] < seen["before"]).all()
    with pytest.raises(ValueError, match="beta"):
        StartKLPenalty(0.0)


def test_value_head_starts_at_zero_and_start_head_ignores_progress(tiny_env_kwargs: dict[str, Any]) -> None:
    # With progress_feature the observation is [h_t; used share]: the start head reads h_t only, and the untrained
    # policy still equals the prior; the value head starts at exactly zero (the default).
    env_id = "lam/MMRole-Latent-v0"
    venv = make_vec_env(env_id, 2, 0, {**tiny_env_kwargs, "progress_feature": True})
    config = TrainConfig(env_id=env_id, algo="ppo", fair_start=True, out="unused", tensorboard=False, verbose=0)
    model = build_model(config, venv, {"n_steps": 8, "batch_size": 16,
                                       "policy_kwargs": {"net_arch": [8, 8]}})
    parts = env_parts(venv)
    obs = torch.as_tensor(venv.reset())
    d = parts.backbone.hidden_size
    assert obs.shape == (2, d + 1)
    expected = parts.world_model.prior_logits(obs[:, :d]).detach()
    got = model.policy.get_distribution(obs).distribution.logits
    assert torch.allclose(torch.log_softmax(got, -1), torch.log_softmax(expected, -1), atol=1e-5)
    assert torch.equal(model.policy.predict_values(obs), torch.zeros(2, 1))
    assert model.policy._get_constructor_parameters()["zero_value_head"] is True


@pytest.mark.parametrize("env_id", ["lam/MMRole-Latent-v0", "lam/PCogAlign-Token-v0"])
def test_start_lr_scale_fine_tunes_the_start_head_slowly_and_keeps_the_frozen_reference(
    env_id: str, tiny_env_kwargs: dict[str, Any], tmp_path
) -> None:
    from stable_baselines3 import PPO

    venv = make_vec_env(env_id, 2, 0, tiny_env_kwargs)
    config = TrainConfig(env_id=env_id, algo="ppo", fair_start=True, out=str(tmp_path), tensorboard=False, verbose=0)
    lr, scale = 1e-2, 0.1
    model = build_model(config, venv, {"n_steps": 8, "batch_size": 16, "learning_rate": lr,
                                       "policy_kwargs": {"start_lr_scale": scale}})
    head = model.policy.action_net
    obs = torch.as_tensor(venv.reset())
    frozen = {k: v.clone() for k, v in head.start.state_dict().items()}
    # Untrained: the offsets are zero, so the policy is exactly the pretrained behaviour.
    assert torch.allclose(model.policy.kl_to_start(obs), torch.zeros(2), atol=1e-6)
    assert torch.allclose(head.tuned_logits(obs), head.start_logits(obs), atol=1e-6)
    names = {n for n, p in model.policy.named_parameters() if p.requires_grad}
    assert any(n.startswith("action_net.start_delta.") for n in names) and not any(".start." in n for n in names)
    optimised = {id(p) for group in model.policy.optimizer.param_groups for p in group["params"]}
    assert all(id(p) in optimised for p in head.start_delta.parameters())

    # One optimiser step on the actions' log-likelihood (the tiny random models' replies all score 0, so a rollout's
    # advantages would be 0): the gradient reaches the offsets, never the reference.
    _, log_prob, _ = model.policy.evaluate_actions(obs, torch.tensor([0, 1]))
    model.policy.optimizer.zero_grad()
    (-log_prob.sum()).backward()
    model.policy.optimizer.step()
    assert all(torch.equal(head.start.state_dict()[k], v) for k, v in frozen.items()), "the reference moved"
    # Adam's first step moves every offset with a gradient by about lr, so a weight moves by about scale * lr.
    moved = max(float((scale * d.detach()).abs().max()) for d in head.start_delta.values())
    assert 0.5 * scale * lr < moved < 1.5 * scale * lr
    assert model.policy.kl_to_start(obs).min() > 0  # the policy left its start; start_logits is the reference

    model.save(tmp_path / "m.zip")
    loaded = PPO.load(tmp_path / "m.zip", device="cpu")
    assert loaded.policy.start_lr_scale == scale
    assert torch.equal(loaded.policy.get_distribution(obs).distribution.logits,
                       model.policy.get_distribution(obs).distribution.logits)


@pytest.mark.parametrize("scale, message", [(0.1, "fine-tunes the start head"), (-1.0, "finite number >= 0"),
                                            (True, "finite number >= 0")])
def test_start_lr_scale_is_checked(scale: Any, message: str) -> None:
    from gymnasium import spaces

    with pytest.raises(ValueError, match=message):
        FairStartPolicy(spaces.Box(-1, 1, (4,)), spaces.Discrete(3), lambda _: 1e-3, start_head=None,
                        start_lr_scale=scale)
