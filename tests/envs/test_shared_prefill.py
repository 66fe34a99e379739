"""Rollouts with the shared prefill (groups, repeated prompts, repeated images) equal rollouts without it: same
tokens, rewards and samples exactly, observations within float tolerance."""

from __future__ import annotations

from typing import Any, Iterator

import gymnasium as gym
import numpy as np
import pytest

import lam_envs  # noqa: F401  (registers the ids)
from lam_envs.backbone import Backbone
from lam_envs.backbone.cache import BoundedCache

GROUP = 4
STEPS = 12  # replies of at most 5 tokens: every row restarts at least twice, on prompts and images seen before


@pytest.fixture
def fresh_caches(env_backbone: Backbone) -> Iterator[Backbone]:
    saved = env_backbone.prompt_cache, env_backbone.image_cache
    env_backbone.prompt_cache = BoundedCache(saved[0].max_bytes, "prompt states")
    env_backbone.image_cache = BoundedCache(saved[1].max_bytes, "image features")
    yield env_backbone
    env_backbone.prompt_cache, env_backbone.image_cache = saved


def row_values(infos: dict[str, Any], key: str, n: int) -> np.ndarray:
    """Per row, ``key`` of the step's info, or of the finished episode's final info."""
    out = np.full(n, -1)
    for where in (infos.get("final_info", {}), infos):
        if key in where:
            mask = where[f"_{key}"]
            out[mask] = where[key][mask]
    return out


def rollout(env_id: str, kwargs: dict[str, Any], share: bool, pins: list[int]) -> dict[str, list[Any]]:
    envs = gym.make_vec(env_id, num_envs=len(pins), vectorization_mode="vector_entry_point", **kwargs)
    envs.unwrapped.batch.share_prefill = share
    obs, infos = envs.reset(seed=3, options={"sample_index": pins})
    rng = np.random.default_rng(0)
    out: dict[str, list[Any]] = {"obs": [obs], "tokens": [], "rewards": [], "samples": [infos["sample_index"]]}
    for _ in range(STEPS):
        obs, rewards, terminated, truncated, infos = envs.step(rng.integers(envs.single_action_space.n, size=len(pins)))
        out["obs"].append(obs)
        out["tokens"].append(row_values(infos, "token", len(pins)))
        out["rewards"].append(rewards)
        out["samples"].append(row_values(infos, "sample_index", len(pins)))
    envs.close()
    return out


@pytest.mark.parametrize(("env_id", "extra", "prompt_cache"), [
    ("lam/MMRole-Latent-v0", {}, True),
    ("lam/MMRole-Latent-v0", {}, False),  # repeated images: only their vision features are reused
    ("lam/MMRole-Latent-v0", {"decoding": "sample", "top_k": 8}, True),
    ("lam/PCogAlign-Token-v0", {}, True),
])
def test_grouped_rollouts_equal_unshared(env_id: str, extra: dict[str, Any], prompt_cache: bool,
                                         env_kwargs: dict[str, Any], fresh_caches: Backbone) -> None:
    kwargs = {**env_kwargs, **extra}
    if not prompt_cache:
        fresh_caches.prompt_cache.max_bytes = 0
    pins = [0] * GROUP + [1] * GROUP  # two GRPO groups
    shared = rollout(env_id, kwargs, True, pins)
    # Later episodes met prompts (or, without the prompt cache, images) seen before.
    used = fresh_caches.prompt_cache if prompt_cache else fresh_caches.image_cache
    assert used.hits > 0
    assert fresh_caches.prompt_cache.nbytes <= fresh_caches.prompt_cache.max_bytes
    plain = rollout(env_id, kwargs, False, pins)
    for key in ("tokens", "rewards", "samples"):
        for got, want in zip(shared[key], plain[key], strict=True):
            np.testing.assert_array_equal(got, want)
    for got, want in zip(shared["obs"], plain["obs"], strict=True):
        for name in (want if isinstance(want, dict) else {"": want}):
            a, b = (got[name], want[name]) if name else (got, want)
            if np.issubdtype(np.asarray(b).dtype, np.floating):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
            else:
                np.testing.assert_array_equal(a, b)


def test_group_rows_in_one_reset_match_rows_started_alone(env_kwargs: dict[str, Any], fresh_caches: Backbone) -> None:
    """A group's rows start from the same prompt state as one row reset on its own (prompt cache off)."""
    fresh_caches.prompt_cache.max_bytes = 0
    envs = gym.make_vec("lam/MMRole-Latent-v0", num_envs=GROUP, vectorization_mode="vector_entry_point",
                        **env_kwargs)
    obs, _ = envs.reset(seed=0, options={"sample_index": 2})
    single = gym.make("lam/MMRole-Latent-v0", **env_kwargs)
    alone, _ = single.reset(seed=0, options={"sample_index": 2})
    first = obs if not isinstance(obs, dict) else obs["embedding"]
    ref = alone if not isinstance(alone, dict) else alone["embedding"]
    for row in range(GROUP):
        np.testing.assert_allclose(first[row], ref, rtol=1e-4, atol=1e-5)
    assert len(fresh_caches.prompt_cache) == 0
