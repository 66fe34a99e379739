"""ConversationEnv dynamics: what a step emits, when episodes end, rewards and info, masks, observations, render,
judge failures and argument errors."""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
from gymnasium.utils.env_checker import check_env
import numpy as np
import pytest
import torch

import lam_envs  # noqa: F401  (registers the ids)
from lam_envs.data.synthetic import synthetic_samples
from lam_envs.data.types import Sample
from lam_envs.envs.conversation import ConversationEnv
from lam_envs.envs.dynamics import top_p_mask
from lam_envs.rewards.base import JudgeError, JudgeResult


def make(env_kwargs: dict[str, Any], task: str = "mmrole", action_space: str = "token", **extra: Any) -> ConversationEnv:
    return ConversationEnv(task, action_space, **{**env_kwargs, **extra})


def test_token_step_emits_the_action_and_eos_terminates(env_kwargs: dict[str, Any]) -> None:
    env = make(env_kwargs)
    env.reset(seed=0)
    backbone = env.setup.backbone
    _, reward, terminated, truncated, info = env.step(17)
    assert info["token"] == 17 and not terminated and not truncated and reward == 0.0
    assert info["reply"] == backbone.decode([17]) and "judge_ratio" not in info
    _, reward, terminated, truncated, info = env.step(backbone.eos_token_id)
    assert terminated and not truncated
    assert reward == pytest.approx(info["judge_ratio"]) and info["reply"] == backbone.decode([17])
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_truncation_penalties_and_reward_terms(env_kwargs: dict[str, Any]) -> None:
    env = make(env_kwargs, step_penalty=0.01, truncation_penalty=0.5)
    env.reset(seed=1)
    token = next(t for t in range(env.action_space.n) if t != env.setup.backbone.eos_token_id)
    rewards = []
    for _ in range(env_kwargs["max_reply_tokens"]):
        _, reward, terminated, truncated, info = env.step(token)
        rewards.append(reward)
    # A reply cut at the limit is judged and ends the episode: terminated, never truncated (nothing to bootstrap).
    assert terminated and not truncated and info["cut_at_limit"]
    assert rewards[:-1] == [pytest.approx(-0.01)] * (len(rewards) - 1)
    terms = info["reward_terms"]
    assert terms == {"judge": pytest.approx(info["judge_ratio"]), "step_penalty": -0.01, "truncation_penalty": -0.5}
    assert rewards[-1] == pytest.approx(sum(terms.values()))


@pytest.mark.parametrize("task", ["mmrole", "pcogalign"])
def test_writing_the_reference_is_a_success(env_kwargs: dict[str, Any], task: str) -> None:
    # Typing the reference's own tokens into a token env makes the judge see the reference: ratio 1.
    env = make(env_kwargs, task=task, max_reply_tokens=400)
    env.reset(seed=0)
    ids = env.setup.backbone.tokenizer(env.sample.reference, add_special_tokens=False)["input_ids"]
    for token in ids:
        env.step(token)
    _, reward, terminated, _, info = env.step(env.setup.backbone.eos_token_id)
    assert terminated and info["reply"] == env.sample.reference and info["reply_tokens"] == len(ids) + 1
    assert reward == pytest.approx(1.0) and info["is_success"]


def test_sample_index_option_pins_the_sample(env_kwargs: dict[str, Any]) -> None:
    env = make(env_kwargs)
    _, info = env.reset(seed=0, options={"sample_index": 4})
    assert info["sample_index"] == 4 and env.sample is env.setup.samples[4]
    drawn = {env.reset(seed=s)[1]["sample_index"] for s in range(20)}
    assert len(drawn) > 1
    with pytest.raises(ValueError, match="sample_index=6"):
        env.reset(options={"sample_index": 6})


def test_latent_greedy_token_is_the_world_models_argmax(env_kwargs: dict[str, Any], num_codes: int) -> None:
    env = make(env_kwargs, action_space="latent")
    assert env.action_space == gym.spaces.Discrete(num_codes)
    env.reset(seed=2)
    for code in (0, 5, num_codes - 1):
        h = env._batch.state.h.clone()
        with torch.inference_mode():
            logits = env.setup.world_model.token_logits(h, torch.tensor([code]), env.setup.backbone)
        _, _, terminated, truncated, info = env.step(code)
        assert info["token"] == int(logits.argmax(-1))
        if terminated or truncated:
            break


def test_latent_sampling_is_seeded(env_kwargs: dict[str, Any]) -> None:
    env = make(env_kwargs, action_space="latent", decoding="sample", temperature=2.0, max_reply_tokens=5)

    def tokens(seed: int) -> list[int]:
        env.reset(seed=seed, options={"sample_index": 0})
        out = []
        for _ in range(5):
            _, _, terminated, truncated, info = env.step(3)
            out.append(info["token"])
            if terminated or truncated:
                break
        return out

    assert tokens(0) == tokens(0)
    assert len({tuple(tokens(s)) for s in range(4)}) > 1


def test_top_p_mask_keeps_the_crossing_entry() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.97, 0.01, 0.01, 0.01]]))
    assert top_p_mask(logits, 0.7).tolist() == [[True, True, False, False], [True, False, False, False]]
    assert top_p_mask(logits, 1.0).all()


def test_action_masks(env_kwargs: dict[str, Any], num_codes: int) -> None:
    token_env = make(env_kwargs, mask_top_p=0.5)
    token_env.reset(seed=0)
    mask = token_env.action_masks()
    logits = token_env.setup.backbone.lm_head(token_env._batch.state.h)[0]
    assert mask.shape == (token_env.action_space.n,) and mask.dtype == bool
    assert mask[int(logits.argmax())] and 0 < mask.sum() < mask.size
    assert torch.softmax(logits, -1)[torch.from_numpy(mask)].sum() >= 0.5
    latent = make(env_kwargs, action_space="latent")
    latent.reset(seed=0)
    assert latent.action_masks().all() and latent.action_masks().shape == (num_codes,)
    nucleus = make(env_kwargs, action_space="latent", mask_top_p=0.3)
    nucleus.reset(seed=0)
    assert 0 < nucleus.action_masks().sum() < num_codes


def test_dict_observation(env_kwargs: dict[str, Any]) -> None:
    env = make(env_kwargs, observation="dict", obs_image_size=64)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs["image"].shape == (64, 64, 3) and obs["image"].std() > 0 and obs["reply_length"][0] == 0
    obs, *_ = env.step(9)
    assert obs["reply_ids"][0] == 9 and obs["reply_length"][0] == 1 and env.observation_space.contains(obs)
    np.testing.assert_array_equal(obs["embedding"], env._batch.embeddings[0])


def test_progress_feature_appends_the_used_share_of_the_reply(env_kwargs: dict[str, Any]) -> None:
    env = make(env_kwargs, progress_feature=True, max_reply_tokens=4)
    d = env.setup.backbone.hidden_size
    obs, _ = env.reset(seed=0)
    assert obs.shape == (d + 1,) and obs[-1] == 0.0 and env.observation_space.contains(obs)
    obs, *_ = env.step(9)
    assert obs[-1] == pytest.approx(0.25) and env.observation_space.contains(obs)
    np.testing.assert_array_equal(obs[:d], env._batch.embeddings[0])
    check_env(env, skip_render_check=True)
    vec = gym.make_vec("lam/MMRole-Token-v0", num_envs=2, vectorization_mode="vector_entry_point",
                       **{**env_kwargs, "progress_feature": True, "max_reply_tokens": 4})
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (2, d + 1) and (obs[:, -1] == 0).all()
    obs, *_ = vec.step(np.array([9, 9]))
    assert np.allclose(obs[:, -1], 0.25)


def test_render_modes(env_kwargs: dict[str, Any]) -> None:
    env = make(env_kwargs, render_mode="ansi")
    env.reset(seed=0)
    env.step(12)
    text = env.render()
    assert env.sample.query in text and text.rstrip().endswith("...") and env.reply in text
    frame = make(env_kwargs, render_mode="rgb_array")
    frame.reset(seed=0)
    image = frame.render()
    assert image.dtype == np.uint8 and image.shape == (256, 576, 3) and image[:, :256].std() > 0


class FailingJudge:
    task = "mmrole"
    dimensions = ("fluency",)

    def score(self, samples: Sequence[Sample], replies: Sequence[str]) -> list[JudgeResult]:
        return [JudgeResult.failure("endpoint down") for _ in samples]


def test_judge_failures_raise_or_are_flagged(env_kwargs: dict[str, Any]) -> None:
    env = make(env_kwargs, reward=FailingJudge())
    env.reset(seed=0)
    with pytest.raises(JudgeError, match="endpoint down"):
        env.step(env.setup.backbone.eos_token_id)
    flagged = make(env_kwargs, reward=FailingJudge(), judge_failure_reward=-1.0)
    flagged.reset(seed=0)
    _, reward, terminated, _, info = flagged.step(flagged.setup.backbone.eos_token_id)
    assert terminated and reward == -1.0 and info["judge_failed"] and info["judge_error"] == "endpoint down"
    assert np.isnan(info["judge_ratio"]) and not info["is_success"] and flagged.judge_failures == 1


def test_given_samples_and_argument_errors(env_kwargs: dict[str, Any]) -> None:
    samples = synthetic_samples("pcogalign", "test_ood", n=3)
    env = make(env_kwargs, task="pcogalign", samples=samples, num_samples=None)
    assert env.setup.samples == samples and env.reset(seed=0)[1]["sample_id"] in {s.id for s in samples}
    with pytest.raises(ValueError, match="another task"):
        make(env_kwargs, task="mmrole", samples=samples, num_samples=None)
    with pytest.raises(ValueError, match="unknown task"):
        make(env_kwargs, task="chess")
    with pytest.raises(ValueError, match="action_space"):
        make(env_kwargs, action_space="words")
    with pytest.raises(ValueError, match="max_reply_tokens"):
        make(env_kwargs, max_reply_tokens=0)
    with pytest.raises(TypeError, match="reward"):
        make(env_kwargs, reward=42)
    with pytest.raises(ValueError, match="scores task"):
        make(env_kwargs, task="pcogalign", reward=FailingJudge())
    with pytest.raises(FileNotFoundError, match="latent_model"):
        make(env_kwargs, action_space="latent", latent_model="/nonexistent/latent")
    with pytest.raises(TypeError, match="unexpected keyword"):
        make(env_kwargs, max_reply_length=4)
