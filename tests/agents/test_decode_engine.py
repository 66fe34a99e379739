"""A chat reply is an env rollout: ``ChatAgent.reply_to`` and evaluation write through the same decode engine, so
under the same policy and seed they write the same reply, for greedy and sampled decoding."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import pytest
import torch

from lam_agents.algos import algo_spec
from lam_agents.chat import ChatAgent
from lam_agents.envs import inner_env, make_vec_env
from lam_agents.evaluate import answer_prompts

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
