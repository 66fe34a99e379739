"""A chat reply is an env rollout: ``ChatAgent.reply_to`` and evaluation write through the same decode engine, so
under the same policy and seed they write the same reply, for greedy and sampled decoding; a chat dialogue
(``ChatAgent.play_dialogue``, what ``lam chat`` plays on a dialogue run) is a dialogue-env episode."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from lam_agents.algos import algo_spec
from lam_agents.chat import ChatAgent
from lam_agents.envs import inner_env, make_vec_env
from lam_agents.evaluate import ModelPolicy, answer_prompts
from lam_envs.data.dialogue import dialogue_scripts, turn_sample

SEED = 3

CASES = [
    # (algorithm, env, extra env keywords, deterministic actions)
    ("ppo", "lam/MMRole-Token-v0", {}, True),
    ("ppo", "lam/MMRole-Latent-v0", {}, True),
    ("ppo", "lam/MMRole-Latent-v0", {"decoding": "sample", "temperature": 2.0}, True),
    ("ppo", "lam/MMRole-Latent-v0", {"decoding": "sample", "temperature": 2.0, "progress_feature": True}, False),
    ("maskable_ppo", "lam/MMRole-Token-v0", {}, False),
    ("recurrent_ppo", "lam/PCogAlign-Latent-v0", {"decoding": "sample"}, True),
]


@pytest.mark.parametrize("algo, env_id, extra, deterministic", CASES)
def test_chat_reply_equals_env_rollout_under_the_same_policy_and_seed(
    tiny_env_kwargs: dict[str, Any], algo: str, env_id: str, extra: dict[str, Any], deterministic: bool
) -> None:
    kwargs = {**tiny_env_kwargs, **extra, "max_reply_tokens": 6}
    spec = algo_spec(algo)
    # Sampled actions draw from torch's generator once per step for the whole batch: one row, so chat can match.
    n_envs = 2 if deterministic else 1
    venv = make_vec_env(env_id, n_envs, SEED, kwargs)
    # (An SB3 model seeds its env too: with the same seed, row r draws its episodes from SEED + r.)
    model = spec.load_class()(spec.policy, venv, seed=SEED, device="cpu", n_steps=8, batch_size=8)
    samples = inner_env(venv).parts.samples
    rollout = [info["reply"] for info in answer_prompts(model, venv, range(n_envs), deterministic, seed=11)]
    venv.close()
    agent = ChatAgent(model, env_id, kwargs)
    assert agent.algo == spec
    chat = []
    for row in range(n_envs):
        torch.manual_seed(11)
        chat.append(agent.reply_to(samples[row], deterministic=deterministic, seed=SEED + row))  # row r: seed + r
    assert chat == rollout and all(rollout)
    if extra.get("decoding") == "sample":  # the seed decides the sampled tokens: another one writes another reply
        torch.manual_seed(11)
        assert agent.reply_to(samples[0], deterministic=deterministic, seed=SEED + 50) != chat[0]


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_the_env_surface_is_the_same_on_every_face(tiny_env_kwargs: dict[str, Any], workers: int) -> None:
    settings = None
    if workers > 1:
        import ray

        from lam_agents.ray_workers import RaySettings

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # shut down below, for the Ray tests after
        settings = RaySettings(worker_cpus=0.5, timeout_s=120)
    try:
        venv = make_vec_env("lam/PCogAlign-Latent-v0", 2, 0, tiny_env_kwargs, workers=workers, ray_settings=settings)
        env = inner_env(venv)
        assert (env.task, env.action_kind, env.num_envs) == ("pcogalign", "latent", 2)
        assert env.num_samples == len(env.parts.samples) == tiny_env_kwargs["num_samples"]
        assert env.max_reply_tokens == env.parts.max_reply_tokens == tiny_env_kwargs["max_reply_tokens"]
        assert env.parts.world_model is not None and env.parts.backbone.hidden_size > 0
        assert (env.parts.task, env.parts.action_kind) == (env.task, env.action_kind)
        if workers == 1:
            # The single env offers the same names (all but num_envs), over the same (shared) models and samples.
            single = gym.make("lam/PCogAlign-Latent-v0", **tiny_env_kwargs).unwrapped
            assert (single.task, single.action_kind) == (env.task, env.action_kind)
            assert (single.num_samples, single.max_reply_tokens) == (env.num_samples, env.max_reply_tokens)
            assert single.parts.backbone is env.parts.backbone and single.parts.world_model is env.parts.world_model
            assert single.parts == env.parts
            single.close()
        venv.close()
    finally:
        if workers > 1:
            ray.shutdown()


DIALOGUE_CASES = [
    # (algorithm, dialogue env, extra env keywords, deterministic actions)
    ("ppo", "lam/MMRole-Dialogue-Latent-v0", {}, True),
    ("ppo", "lam/MMRole-Dialogue-Latent-v0", {"decoding": "sample", "temperature": 2.0}, False),
    ("maskable_ppo", "lam/PCogAlign-Dialogue-Token-v0", {}, True),
    ("recurrent_ppo", "lam/PCogAlign-Dialogue-Latent-v0", {"decoding": "sample"}, True),
]


def _episode(env: Any, model: Any, spec: Any, index: int, deterministic: bool) -> list[str]:
    """The replies of one episode of the single dialogue env on sample ``index``, seeded as a chat with seed SEED."""
    policy, start = ModelPolicy(model, deterministic, spec), np.ones(1, dtype=bool)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        obs, _ = env.reset(seed=SEED, options={"sample_index": index})
        replies, done = [], False
        while not done:
            action = policy(np.asarray(obs)[None], lambda: env.action_masks()[None], start)
            obs, _, done, _, info = env.step(int(action[0]))
            start[:] = done
            if info["reply_done"]:
                replies.append(info["reply"])
    return replies


@pytest.mark.parametrize("algo, env_id, extra, deterministic", DIALOGUE_CASES)
def test_a_chat_dialogue_is_a_dialogue_env_episode_under_the_same_policy_and_seed(
    tiny_env_kwargs: dict[str, Any], algo: str, env_id: str, extra: dict[str, Any], deterministic: bool
) -> None:
    kwargs = {**tiny_env_kwargs, **extra}
    spec = algo_spec(algo)
    venv = make_vec_env(env_id, 1, SEED, kwargs)
    model = spec.load_class()(spec.policy, venv, seed=SEED, device="cpu", n_steps=8, batch_size=8)
    venv.close()
    agent = ChatAgent(model, env_id, kwargs)
    # play_dialogue numbers the whole split, as `lam chat --index` does.
    env = gym.make(env_id, **{**kwargs, "split": "test_id", "num_samples": None}).unwrapped
    chats = []
    for index in range(3):
        chat = [info["reply"] for info in agent.play_dialogue("test_id", index, deterministic, seed=SEED)]
        assert chat == _episode(env, model, spec, index, deterministic) and len(chat) >= 2 and all(chat)
        chats.append(chat)
    if algo == "ppo" and deterministic:
        # Rebuilding each exchange's prompt from the earlier replies' text (what `lam chat` did before) writes
        # another dialogue here: a reply's text does not always tokenize back to the reply's tokens.
        rebuilt = []
        for index in range(3):
            sample = env.parts.samples[index]
            script, replies = dialogue_scripts([sample], agent.config.data_seed)[0], []
            for k in range(len(script)):
                replies.append(agent.reply_to(turn_sample(sample, script, k, replies), deterministic))
            rebuilt.append(replies)
        assert rebuilt != chats
    env.close()
