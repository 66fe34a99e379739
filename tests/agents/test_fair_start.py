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
