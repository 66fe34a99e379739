"""The batched env: built by gym.make_vec, identical to single envs row by row (autoreset included), pinned groups."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import lam_envs  # noqa: F401  (registers the ids)
from lam_envs.envs.vector import ConversationVectorEnv

NUM_ENVS = 3
STEPS = 13  # replies of at most 5 tokens: every row finishes and autoresets at least twice


def single_trace(env_id: str, kwargs: dict[str, Any], seed: int, actions: np.ndarray) -> list[dict[str, Any]]:
    """One env stepped through ``actions``, resetting after each episode, as per-step records."""
    env = gym.make(env_id, **kwargs)
    obs, info = env.reset(seed=seed)
    out = []
    for action in actions:
        obs_next, reward, terminated, truncated, info = env.step(int(action))
        record = {"token": info["token"], "reward": reward, "terminated": terminated, "truncated": truncated}
        if terminated or truncated:
            record["final_obs"], record["reply"] = obs_next, info["reply"]
            obs_next, reset_info = env.reset()
            record["next_sample"] = reset_info["sample_id"]
        record["obs"] = obs_next
        out.append(record)
    return out


@pytest.mark.parametrize("env_id", ["lam/MMRole-Token-v0", "lam/PCogAlign-Latent-v0"])
def test_batched_rows_replay_single_envs(env_id: str, env_kwargs: dict[str, Any]) -> None:
    kwargs = {**env_kwargs, "max_reply_tokens": 4}
    envs = gym.make_vec(env_id, num_envs=NUM_ENVS, vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(envs.unwrapped, ConversationVectorEnv)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    rng = np.random.default_rng(0)
    actions = rng.integers(envs.single_action_space.n, size=(STEPS, NUM_ENVS))
    obs, infos = envs.reset(seed=100)
    assert envs.observation_space.contains(obs)
    batched: list[list[dict[str, Any]]] = [[] for _ in range(NUM_ENVS)]
    for step_actions in actions:
        obs, rewards, terminated, truncated, infos = envs.step(step_actions)
        for row in range(NUM_ENVS):
            done = terminated[row] or truncated[row]
            record = {"reward": rewards[row], "terminated": terminated[row], "truncated": truncated[row], "obs": obs[row]}
            if done:
                assert infos["_final_obs"][row]
                record["token"] = infos["final_info"]["token"][row]
                record["final_obs"] = infos["final_obs"][row]
                record["reply"] = infos["final_info"]["reply"][row]
                record["next_sample"] = infos["sample_id"][row]
            else:
                record["token"] = infos["token"][row]
            batched[row].append(record)
    finished = 0
    for row in range(NUM_ENVS):
        single = single_trace(env_id, kwargs, 100 + row, actions[:, row])
        for a, b in zip(batched[row], single, strict=True):
            assert a["token"] == b["token"] and bool(a["terminated"]) == b["terminated"]
            assert bool(a["truncated"]) == b["truncated"] and a["reward"] == pytest.approx(b["reward"], abs=1e-9)
            np.testing.assert_allclose(a["obs"], b["obs"], rtol=1e-4, atol=1e-4)
            if "final_obs" in b:
                finished += 1
                assert a["reply"] == b["reply"] and a["next_sample"] == b["next_sample"]
                np.testing.assert_allclose(a["final_obs"], b["final_obs"], rtol=1e-4, atol=1e-4)
    assert finished >= 2 * NUM_ENVS


def test_pinned_group_and_masks(env_kwargs: dict[str, Any]) -> None:
    envs = gym.make_vec("lam/MMRole-Token-v0", num_envs=4, **env_kwargs)
    obs, infos = envs.reset(seed=0, options={"sample_index": 2})
    assert (infos["sample_index"] == 2).all()
    np.testing.assert_allclose(obs, np.broadcast_to(obs[0], obs.shape), atol=1e-5)  # same prompt, same h
    masks = envs.unwrapped.action_masks()
    assert masks.shape == (4, envs.single_action_space.n) and (masks == masks[0]).all()
    _, infos = envs.reset(options={"sample_index": [0, 1, 2, 3]})
    assert infos["sample_index"].tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="4 envs"):
        envs.reset(options={"sample_index": [0, 1]})
    with pytest.raises(ValueError, match="one per env"):
        envs.step(np.zeros(3, dtype=np.int64))


def test_vector_dict_observation_and_render(env_kwargs: dict[str, Any]) -> None:
    envs = ConversationVectorEnv(2, "pcogalign", "token", render_mode="ansi", observation="dict", **env_kwargs)
    obs, _ = envs.reset(seed=1)
    assert envs.observation_space.contains(obs) and obs["image"].shape == (2, 64, 64, 3)
    obs, *_ = envs.step(np.array([5, 6]))
    assert obs["reply_ids"][:, 0].tolist() == [5, 6]
    texts = envs.render()
    assert len(texts) == 2 and all("Agent:" in t for t in texts)
    envs.close()
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.array([5, 6]))


@pytest.mark.parametrize("env_id", ["lam/MMRole-Token-v0", "lam/PCogAlign-Latent-v0"])
def test_autoreset_off_lets_finished_rows_wait_and_a_reset_resumes_their_draws(
    env_id: str, env_kwargs: dict[str, Any]
) -> None:
    kwargs = {**env_kwargs, "max_reply_tokens": 4}
    rng = np.random.default_rng(0)
    actions = rng.integers(gym.make(env_id, **kwargs).action_space.n, size=(STEPS, NUM_ENVS))
    # The reference: autoreset on, every row finishing its first episode and starting its second in the same step.
    on = gym.make_vec(env_id, num_envs=NUM_ENVS, vectorization_mode="vector_entry_point", **kwargs)
    on.reset(seed=100)
    first_done: dict[int, dict[str, Any]] = {}
    for t, step_actions in enumerate(actions):
        obs, rewards, terminated, _, infos = on.step(step_actions)
        for row in np.flatnonzero(terminated):
            first_done.setdefault(int(row), {"step": t, "reward": rewards[row], "reply": infos["final_info"]["reply"][row],
                                             "next_sample": infos["sample_id"][row], "next_obs": obs[row]})
    assert len(first_done) == NUM_ENVS

    off = gym.make_vec(env_id, num_envs=NUM_ENVS, vectorization_mode="vector_entry_point", **kwargs)
    env = off.unwrapped
    off.reset(seed=100, options={"autoreset": False})
    starts: list[list[int]] = []
    finals: dict[int, np.ndarray] = {}
    begin = env.batch.begin
    env.batch.begin = lambda rows, *a, **k: starts.append(list(rows)) or begin(rows, *a, **k)  # count restarts
    last = max(d["step"] for d in first_done.values())
    for t, step_actions in enumerate(actions[: last + 3]):
        obs, rewards, terminated, truncated, infos = off.step(step_actions)
        for row in range(NUM_ENVS):
            done_at = first_done[row]["step"]
            if t == done_at:  # ends as with autoreset, and its observation is the final one: nothing new starts
                assert terminated[row] and rewards[row] == pytest.approx(first_done[row]["reward"], abs=1e-9)
                assert infos["final_info"]["reply"][row] == first_done[row]["reply"]
                np.testing.assert_array_equal(obs[row], infos["final_obs"][row])
                finals[row] = obs[row].copy()
            elif t > done_at:  # waits: no reward, not terminated again, observation unchanged
                assert not terminated[row] and not truncated[row] and rewards[row] == 0.0
                assert infos["idle"][row] and infos["_idle"][row]
                np.testing.assert_array_equal(obs[row], finals[row])
    assert starts == [], "a waiting row must not start a new episode"
    assert env.get_state()["batch"]["idle"] == [True] * NUM_ENVS and env.get_state()["autoreset"] is False
    # A masked reset restarts row 0 alone, on the sample and decode seed its autoreset would have drawn.
    obs, infos = off.reset(options={"reset_mask": np.array([True, False, False])})
    assert starts == [[0]] and infos["sample_id"][0] == first_done[0]["next_sample"]
    np.testing.assert_allclose(obs[0], first_done[0]["next_obs"], rtol=1e-4, atol=1e-4)
    assert env.autoreset is True  # a reset without the option turns autoreset back on
    with pytest.raises(ValueError, match="must be True or False"):
        off.reset(options={"autoreset": "no"})


def _assert_same_infos(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert list(a) == list(b)
    for key in a:
        if isinstance(a[key], dict):
            _assert_same_infos(a[key], b[key])
            continue
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
        if a[key].dtype == object:
            for x, y in zip(a[key], b[key]):
                assert (x is None and y is None) or np.array_equal(np.asarray(x), np.asarray(y)), key
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize("autoreset", [True, False])
def test_batched_infos_are_gymnasiums(env_kwargs: dict[str, Any], autoreset: bool) -> None:
    envs = gym.make_vec("lam/PCogAlign-Latent-v0", num_envs=NUM_ENVS, vectorization_mode="vector_entry_point",
                        **{**env_kwargs, "max_reply_tokens": 3})
    env = envs.unwrapped
    env.reset(seed=5, options={"autoreset": autoreset})
    rng = np.random.default_rng(1)
    for _ in range(8):  # ends, restarts (or waits), judged replies with their nested final_info
        _, _, terminated, _, rows = env.step_rows(rng.integers(envs.single_action_space.n, size=NUM_ENVS))
        order = [r for r in range(NUM_ENVS) if not terminated[r]] + np.flatnonzero(terminated).tolist()
        expected: dict[str, Any] = {}
        for row in order:
            expected = env._add_info(expected, rows[row], row)
        _assert_same_infos(env.batch_infos([(row, rows[row]) for row in order]), expected)
