"""Whole-dialogue episodes: the agent's own replies stay in the context, the KV cache carries across turns, rows of
the vector env at different turns replay single envs, and a checkpoint mid-dialogue resumes exactly."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.utils.env_checker import data_equivalence
import numpy as np
import pytest

import lam_envs  # noqa: F401  (registers the ids)
from lam_envs.backbone.inputs import render_prompt
from lam_envs.data.dialogue import dialogue_script, turn_sample, whole_dialogues
from lam_envs.data.synthetic import synthetic_samples

DIALOGUE_IDS = ["lam/MMRole-Dialogue-Token-v0", "lam/PCogAlign-Dialogue-Latent-v0"]


def play(env: gym.Env, seed: int, actions: np.ndarray) -> list[dict[str, Any]]:
    """Step ``env`` through ``actions``, resetting after each episode; a record per step."""
    env.reset(seed=seed)
    out = []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(int(action))
        out.append({"obs": obs, "reward": reward, "terminated": terminated, "reply_done": info["reply_done"],
                    "turn": info["turn"], "reply": info["reply"]})
        if terminated or truncated:
            env.reset()
    return out


@pytest.mark.parametrize("env_id", DIALOGUE_IDS)
def test_context_at_turn_k_holds_the_agents_own_replies(env_id: str, env_kwargs: dict[str, Any]) -> None:
    env = gym.make(env_id, **{**env_kwargs, "max_reply_tokens": 5})
    env.reset(seed=1)
    batch = env.unwrapped._batch
    backbone = batch.backbone
    script = batch.setup.scripts[int(batch.sample_index[0])]
    assert len(script) >= 2
    rng = np.random.default_rng(0)
    replies: list[str] = []
    first_prompt = render_prompt(batch._context(int(batch.sample_index[0])), backbone.tokenizer,
                                 backbone.family.image_marker)
    done = False
    while not done:
        _, _, done, _, info = env.step(int(rng.integers(env.action_space.n)))
        if info["reply_done"]:
            replies.append(info["reply"])
            if done:
                break
            k = len(replies)
            now = batch.turn_sample(0)
            # The judge and the prompt see the agent's replies, never the references of those exchanges.
            agent_turns = [t.text for t in now.dialogue if t.role == "assistant"]
            assert agent_turns[-k:] == replies and batch.turn[0] == k
            assert all(e.reference not in agent_turns for e in script.exchanges[:k] if e.reference)
            assert now.reference == (script.exchanges[k].reference or "")
            # The cache holds exactly that conversation: the first prompt, then what extend appended.
            prompt = render_prompt(batch._context(int(batch.sample_index[0]), k, replies), backbone.tokenizer,
                                   backbone.family.image_marker)
            held = backbone.decode(batch.history[0], skip_special_tokens=False)
            assert prompt == first_prompt + held
    assert len(replies) == len(script)


@pytest.mark.parametrize("env_id", DIALOGUE_IDS)
def test_vector_rows_at_different_turns_replay_single_envs(env_id: str, env_kwargs: dict[str, Any]) -> None:
    kwargs = {**env_kwargs, "max_reply_tokens": 4}
    n, steps = 3, 30
    actions = np.random.default_rng(0).integers(gym.make(env_id, **kwargs).action_space.n, size=(steps, n))
    envs = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    obs, infos = envs.reset(seed=100)
    batched: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    turns_seen = set()
    for step_actions in actions:
        obs, rewards, terminated, truncated, infos = envs.step(step_actions)
        for row in range(n):
            info = {k: v[row] for k, v in (infos["final_info"] if terminated[row] else infos).items()
                    if not k.startswith("_") and k in ("turn", "reply_done", "reply")}
            batched[row].append({"obs": obs[row] if not terminated[row] else infos["final_obs"][row],
                                 "reward": rewards[row], "terminated": terminated[row], **info})
        turns_seen.add(tuple(int(t) for t in envs.unwrapped.batch.turn))
    assert any(len(set(t)) > 1 for t in turns_seen), "rows never sat at different turns"
    for row in range(n):
        single = play(gym.make(env_id, **kwargs), 100 + row, actions[:, row])
        for a, b in zip(batched[row], single, strict=True):
            assert bool(a["terminated"]) == b["terminated"] and bool(a["reply_done"]) == b["reply_done"]
            assert a["turn"] == b["turn"] and a["reply"] == b["reply"]
            assert a["reward"] == pytest.approx(b["reward"], abs=1e-9)
            np.testing.assert_allclose(a["obs"], b["obs"], rtol=1e-4, atol=1e-4)


def test_same_seed_dialogues_are_bitwise_identical(env_kwargs: dict[str, Any]) -> None:
    actions = np.random.default_rng(3).integers(16, size=40)
    a = play(gym.make("lam/PCogAlign-Dialogue-Latent-v0", **env_kwargs), 5, actions)
    b = play(gym.make("lam/PCogAlign-Dialogue-Latent-v0", **env_kwargs), 5, actions)
    assert data_equivalence(a, b, exact=True)
    assert sum(r["reply_done"] for r in a) > sum(r["terminated"] for r in a)


def test_checkpoint_mid_dialogue_resumes_exactly(env_kwargs: dict[str, Any]) -> None:
    kwargs = {**env_kwargs, "max_reply_tokens": 4}
    envs = gym.make_vec("lam/MMRole-Dialogue-Token-v0", num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
    envs.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(6):
        envs.step(rng.integers(envs.single_action_space.n, size=2))
    assert envs.unwrapped.batch.turn.max() >= 1
    saved = envs.unwrapped.get_state()
    other = gym.make_vec("lam/MMRole-Dialogue-Token-v0", num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
    other.unwrapped.set_state(saved)
    for _ in range(8):
        act = rng.integers(envs.single_action_space.n, size=2)
        a, b = envs.step(act), other.step(act)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-4, atol=1e-4)
        assert np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])


def test_max_turns_ends_the_dialogue_early(env_kwargs: dict[str, Any]) -> None:
    env = gym.make("lam/PCogAlign-Dialogue-Token-v0", **{**env_kwargs, "max_turns": 1, "max_reply_tokens": 3})
    _, info = env.reset(seed=0)
    assert info["turns"] == 1
    done, judged = False, 0
    while not done:
        _, _, done, _, info = env.step(env.action_space.sample())
        judged += info["reply_done"]
    assert judged == 1


def test_scripts_of_both_tasks() -> None:
    for sample in synthetic_samples("mmrole", "rl", n=20):
        script = dialogue_script(sample)
        # MMRole's dialogues are 2-4 exchanges; the earlier character turns are their references.
        assert 2 <= len(script) <= 4 and script.exchanges[-1].reference == sample.reference
        assert [e.reference for e in script.exchanges[:-1]] == [t.text for t in sample.dialogue if t.role == "assistant"]
        last = turn_sample(sample, script, len(script) - 1, ["a"] * (len(script) - 1))
        assert last.query == sample.query and last.reference == sample.reference
    samples = synthetic_samples("pcogalign", "rl", n=5)
    assert whole_dialogues(samples) == samples
