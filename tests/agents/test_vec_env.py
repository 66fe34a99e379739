"""The SB3 VecEnv face: SB3's step contract, terminal observations, MaskablePPO masks, and a few training steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3 import PPO

from lam_agents.vec_env import ConversationVecEnv


def test_sb3_step_contract_and_terminal_observation(tiny_env_kwargs: dict[str, Any]) -> None:
    venv = ConversationVecEnv.make("lam/MMRole-Latent-v0", num_envs=2, **tiny_env_kwargs)
    venv.seed(5)
    obs = venv.reset()
    assert obs.shape == (2, venv.observation_space.shape[0]) and venv.reset_infos[0]["sample_id"]
    seen_done = False
    for _ in range(tiny_env_kwargs["max_reply_tokens"]):
        obs, rewards, dones, infos = venv.step(np.array([1, 2]))
        assert rewards.dtype == np.float32 and dones.shape == (2,) and len(infos) == 2
        for row in np.flatnonzero(dones):
            seen_done = True
            info = infos[row]
            assert info["terminal_observation"].shape == obs[row].shape and "judge_ratio" in info
            # A reply cut at the limit is judged and over: SB3 must not add a bootstrapped value to its reward.
            assert info["cut_at_limit"] == (info["reply_tokens"] == tiny_env_kwargs["max_reply_tokens"])
            assert info["TimeLimit.truncated"] is False
    assert seen_done


def _learns(model: Any, steps: int) -> None:
    """``model.learn(steps)`` moves the policy's parameters and leaves finite advantages and returns in its buffer."""
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(steps)
    after = model.policy.state_dict()
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("action_net" in k for k in moved), f"learn() left the action head unchanged; moved: {moved}"
    buffer = model.rollout_buffer
    assert buffer.full and model.num_timesteps >= steps
    assert np.isfinite(buffer.advantages).all() and np.isfinite(buffer.returns).all()
    assert np.abs(buffer.advantages).max() > 0  # random-judge rewards and an untrained critic: never all zero
    obs = buffer.observations.reshape(-1, model.observation_space.shape[0])  # flattened by the update
    assert len(obs) == model.n_steps * model.n_envs and np.isfinite(obs).all() and np.abs(obs).sum() > 0


def test_maskable_ppo_and_ppo_run(tiny_env_kwargs: dict[str, Any]) -> None:
    venv = ConversationVecEnv.make("lam/PCogAlign-Token-v0", num_envs=2, **tiny_env_kwargs)
    assert is_masking_supported(venv)
    venv.reset()
    masks = get_action_masks(venv)
    assert masks.shape == (2, venv.action_space.n) and masks.any(axis=1).all()
    maskable = MaskablePPO("MlpPolicy", venv, n_steps=8, batch_size=8, n_epochs=1, seed=0, device="cpu")
    _learns(maskable, 16)
    # Every action MaskablePPO took was allowed by the mask it was given for that step.
    taken = maskable.rollout_buffer.actions.astype(np.int64).reshape(-1)
    allowed = maskable.rollout_buffer.action_masks.reshape(-1, venv.action_space.n).astype(bool)
    assert allowed[np.arange(len(taken)), taken].all()
    latent = ConversationVecEnv.make("lam/MMRole-Latent-v0", num_envs=2, **tiny_env_kwargs)
    _learns(PPO("MlpPolicy", latent, n_steps=8, batch_size=8, n_epochs=1, seed=0, device="cpu"), 16)


def test_actions_of_the_wrong_shape_are_refused_where_they_are_passed(tiny_env_kwargs: dict[str, Any]) -> None:
    venv = ConversationVecEnv.make("lam/MMRole-Token-v0", num_envs=2, **tiny_env_kwargs)
    venv.reset()
    for bad in (np.zeros((2, 1), dtype=np.int64), np.zeros(3, dtype=np.int64), np.zeros(2), np.int64(1)):
        with pytest.raises(ValueError, match=r"shape \(2,\), one Discrete"):
            venv.step_async(bad)
    obs, *_ = venv.step(np.array([1, 2]))
    assert obs.shape[0] == 2


def test_pin_rows_turns_autoreset_off_until_the_next_reset(tiny_env_kwargs: dict[str, Any]) -> None:
    from lam_agents.envs import inner_env, make_vec_env, pin_rows

    venv = make_vec_env("lam/MMRole-Token-v0", 2, 0, tiny_env_kwargs)
    inner = inner_env(venv)
    pin_rows(venv, [1, 3])
    venv.reset()
    assert inner.venv.autoreset is False and [int(i) for i in inner.venv.batch.sample_index] == [1, 3]
    done = np.zeros(2, dtype=bool)
    for _ in range(2 * tiny_env_kwargs["max_reply_tokens"]):  # every row ends once, then waits
        _, rewards, dones, infos = venv.step(np.zeros(2, dtype=np.int64))
        waiting = [bool(info.get("idle")) for info in infos]
        assert not (dones & done).any() and (rewards[done] == 0).all() and all(w for w, d in zip(waiting, done) if d)
        done |= dones
    assert done.all()
    venv.reset()  # no options: autoreset is back on
    assert inner.venv.autoreset is True
    inner.set_options([{"autoreset": False}, {"autoreset": True}])
    with pytest.raises(ValueError, match="different 'autoreset' values"):
        venv.reset()
