"""get_state / set_state: a vector env rebuilt from a saved state continues every row where it was (resume)."""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import lam_envs  # noqa: F401  (registers the ids)


def _make(env_id: str, kwargs: dict[str, Any], n: int = 3) -> Any:
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs).unwrapped


@pytest.mark.parametrize("env_id", ["lam/MMRole-Latent-v0", "lam/PCogAlign-Token-v0"])
def test_restored_env_continues_like_the_original(env_id: str, env_kwargs: dict[str, Any]) -> None:
    kwargs = {**env_kwargs, "max_reply_tokens": 5, "decoding": "sample"} if "Latent" in env_id else env_kwargs
    rng = np.random.default_rng(0)
    a = _make(env_id, kwargs)
    a.reset(seed=5)
    n_actions = a.single_action_space.n
    for _ in range(3):  # mid-episode for some rows, after an autoreset for others
        a.step(rng.integers(n_actions, size=3))
    state = json.loads(json.dumps(a.get_state()))  # it must survive JSON, as checkpoints store it
    b = _make(env_id, kwargs)
    b.set_state(state)
    np.testing.assert_allclose(b.batch.embeddings, a.batch.embeddings, rtol=1e-4, atol=1e-4)
    for _ in range(9):
        actions = rng.integers(n_actions, size=3)
        oa, ra, ta, tra, ia = a.step(actions)
        ob, rb, tb, trb, ib = b.step(actions)
        assert a.batch.replies == b.batch.replies
        np.testing.assert_array_equal(a.batch.sample_index, b.batch.sample_index)
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(ta | tra, tb | trb)
        np.testing.assert_allclose(oa, ob, rtol=1e-4, atol=1e-4)


def test_state_for_another_row_count_is_refused(env_kwargs: dict[str, Any]) -> None:
    a = _make("lam/MMRole-Token-v0", env_kwargs, n=2)
    a.reset(seed=0)
    b = _make("lam/MMRole-Token-v0", env_kwargs, n=3)
    with pytest.raises(ValueError, match="the saved state has 2 rows; this env has 3"):
        b.set_state(a.get_state())
