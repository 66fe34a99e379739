"""GRPO: pinned groups, group-relative advantages, loss normalisations, and learning on a tiny env."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lam_agents.envs import make_vec_env
from lam_agents.grpo import GRPO


def _episodes(returns: list[float], group_size: int) -> list[dict[str, Any]]:
    return [{"group": i // group_size, "return": r} for i, r in enumerate(returns)]


@pytest.fixture()
def grpo(tiny_env_kwargs: dict[str, Any]) -> GRPO:
    venv = make_vec_env("lam/MMRole-Latent-v0", 4, 0, tiny_env_kwargs)
    return GRPO("MlpPolicy", venv, group_size=2, groups_per_update=2, batch_size=8, n_epochs=1, seed=0, device="cpu")


def test_group_advantages_and_loss_weights(grpo: GRPO) -> None:
    grpo._episodes = _episodes([1.0, 0.0, 0.5, 0.5], 2)
    adv = grpo._advantages()
    assert adv[0] > 0 > adv[1] and adv[2] == adv[3] == 0  # a group with equal returns teaches nothing
    grpo.loss_type = "dr_grpo"
    assert np.allclose(grpo._advantages(), [0.5, -0.5, 0, 0])  # Dr.GRPO: no division by the std
    lengths = np.array([1, 3])
    for loss_type, expected in {"grpo": [0.5, 1 / 6, 1 / 6, 1 / 6], "dapo": [0.25] * 4, "dr_grpo": [1 / 8] * 4}.items():
        grpo.loss_type = loss_type
        assert np.allclose(grpo._token_weights(lengths), expected)  # max_reply_tokens = 4


def test_rollouts_pin_each_group_to_one_prompt_and_learn(grpo: GRPO) -> None:
    grpo.learn(24)
    groups: dict[int, set[str]] = {}
    for row, ep in enumerate(grpo._episodes):
        assert 1 <= len(ep["actions"]) <= 4 and len(ep["obs"]) == len(ep["actions"])
        groups.setdefault(ep["group"], set()).add(ep["obs"][0].tobytes())
    # Every reply of a group starts from the same prompt (the same first observation h_0).
    assert groups and all(len(first) == 1 for first in groups.values())
    assert grpo.num_timesteps >= 24


def test_bad_settings_are_refused(tiny_env_kwargs: dict[str, Any]) -> None:
    venv = make_vec_env("lam/MMRole-Token-v0", 3, 0, tiny_env_kwargs)
    with pytest.raises(ValueError, match="multiple of group_size"):
        GRPO("MlpPolicy", venv, group_size=2)
    with pytest.raises(ValueError, match="loss_type"):
        GRPO("MlpPolicy", venv, group_size=3, loss_type="bnpo")  # type: ignore[arg-type]
