"""Faults never leave a half-updated episode: a row an exception interrupts refuses to step until it is reset, the
other rows carry on untouched, and a reset row equals a fresh episode. Judges' outputs are held to the protocol."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import lam_envs  # noqa: F401  (registers the ids)
from lam_envs.data.images import ImageLoadError
from lam_envs.data.synthetic import synthetic_samples
from lam_envs.data.types import Sample
from lam_envs.envs.conversation import ConversationEnv
from lam_envs.envs.vector import ConversationVectorEnv
from lam_envs.rewards.base import JudgeError, JudgeResult, check_results
from lam_envs.rewards.rules import rule_judge

ATOL = 1e-4  # batched rows and a single env differ only by padding round-off (as in test_vector.py)


class FlakyJudge:
    """The rule judge, except that its first ``failures`` calls raise (``mode="raise"``) or fail every reply."""

    def __init__(self, task: str = "mmrole", failures: int = 1, mode: str = "raise") -> None:
        self.inner = rule_judge(task)
        self.task, self.dimensions = self.inner.task, self.inner.dimensions
        self.failures, self.mode, self.calls = failures, mode, 0

    def score(self, samples: Sequence[Sample], replies: Sequence[str]) -> list[JudgeResult]:
        self.calls += 1
        if self.calls <= self.failures:
            if self.mode == "raise":
                raise ConnectionError("judge endpoint reset the connection")
            return [JudgeResult.failure("endpoint down") for _ in samples]
        return self.inner.score(samples, replies)


class Switch:
    """Shared on/off state of :class:`FlakyImage` sources."""

    def __init__(self) -> None:
        self.failing = False


@dataclasses.dataclass(frozen=True, eq=False)
class FlakyImage:
    """An image source that raises ``ImageLoadError`` while its switch is on."""

    inner: Any
    switch: Switch

    def load(self) -> Image.Image:
        if self.switch.failing:
            raise ImageLoadError("/data/img.jpg", "unreadable", "truncated JPEG", "re-download the image")
        return self.inner.load()


def flaky_samples(switch: Switch, n: int = 4) -> list[Sample]:
    return [dataclasses.replace(s, image=FlakyImage(s.image, switch)) for s in synthetic_samples("mmrole", "rl", n=n)]


def non_eos(env: Any) -> int:
    eos = env.setup.backbone.eos_token_id
    return 7 if eos != 7 else 8


def rollout(env: ConversationEnv, actions: Sequence[int]) -> list[tuple[Any, ...]]:
    out = []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((obs, reward, terminated, truncated, info["reply"]))
        if terminated or truncated:
            break
    return out


def assert_same_rollout(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]], atol: float = 0.0) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x[0], y[0], atol=atol, rtol=0)
        assert x[1:] == y[1:]


# ---------------------------------------------------------------------------------------------------- single env
@pytest.mark.parametrize("mode", ["raise", "fail"])
def test_judge_error_breaks_the_env_until_reset(env_kwargs: dict[str, Any], mode: str) -> None:
    env = ConversationEnv("mmrole", "token", reward=FlakyJudge(mode=mode), **env_kwargs)
    env.reset(seed=3)
    token, eos = non_eos(env), env.setup.backbone.eos_token_id
    env.step(token)
    reply, obs_before = env.reply, env._batch.embeddings.copy()
    with pytest.raises(ConnectionError if mode == "raise" else JudgeError):
        env.step(eos)
    # Nothing was half-updated: the reply, the sample and h are those before the failed step.
    assert env.reply == reply and env._batch.replies[0] == [token]
    np.testing.assert_array_equal(env._batch.embeddings, obs_before)
    for _ in range(2):  # stepping on never appends to the finished reply nor re-judges it
        with pytest.raises(RuntimeError, match=r"stopped at an exception .*call reset\(\)"):
            env.step(eos)
    assert env.setup.reward.calls == 1
    # After reset the env equals a fresh one with the same seed (the judge now works).
    fresh = ConversationEnv("mmrole", "token", **env_kwargs)
    obs, info = env.reset(seed=5)
    obs_f, info_f = fresh.reset(seed=5)
    np.testing.assert_array_equal(obs, obs_f)
    assert info == info_f
    assert_same_rollout(rollout(env, [token, eos]), rollout(fresh, [token, eos]))


def test_judge_error_message_names_the_fix(env_kwargs: dict[str, Any]) -> None:
    env = ConversationEnv("mmrole", "token", reward=FlakyJudge(mode="fail"), **env_kwargs)
    env.reset(seed=0)
    with pytest.raises(JudgeError, match=r"endpoint down.*judge_failure_reward=<float>.*reset\(\)"):
        env.step(env.setup.backbone.eos_token_id)
    with pytest.raises(RuntimeError, match="JudgeError: the judge failed"):
        env.step(0)


def test_image_failure_at_reset_breaks_the_env(env_kwargs: dict[str, Any]) -> None:
    switch = Switch()
    kwargs = {**env_kwargs, "samples": flaky_samples(switch), "num_samples": None}
    env = ConversationEnv("mmrole", "token", **kwargs)
    env.reset(seed=0)
    env.step(non_eos(env))
    switch.failing = True
    with pytest.raises(ImageLoadError, match="truncated JPEG"):
        env.reset(seed=1)
    with pytest.raises(RuntimeError, match="ImageLoadError: image /data/img.jpg: truncated JPEG.*reset"):
        env.step(non_eos(env))
    switch.failing = False
    fresh = ConversationEnv("mmrole", "token", **kwargs)
    np.testing.assert_array_equal(env.reset(seed=1)[0], fresh.reset(seed=1)[0])
    assert_same_rollout(rollout(env, [non_eos(env)] * 6), rollout(fresh, [non_eos(env)] * 6))


def test_backbone_error_breaks_every_row(env_kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    envs = ConversationVectorEnv(2, "mmrole", "token", **env_kwargs)
    envs.reset(seed=0)

    def out_of_memory(*args: Any, **kwargs: Any) -> None:
        raise MemoryError("CUDA out of memory")

    monkeypatch.setattr(envs.setup.backbone, "step", out_of_memory)
    with pytest.raises(MemoryError):
        envs.step(np.array([3, 4]))
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match=r"rows \[0, 1\].*MemoryError: CUDA out of memory"):
        envs.step(np.array([3, 4]))
    envs.reset(seed=0)
    envs.step(np.array([3, 4]))


def test_invalid_action_changes_nothing(env_kwargs: dict[str, Any]) -> None:
    env = ConversationEnv("mmrole", "token", **env_kwargs)
    env.reset(seed=0)
    for bad in (-1, env.action_space.n, 2.5, True, [1, 2], "3"):
        with pytest.raises(ValueError, match="action"):
            env.step(bad)
    assert env._batch.replies[0] == [] and env._batch.broken == [None]
    env.step(3)


# ---------------------------------------------------------------------------------------------------- vector env
def test_image_failure_at_autoreset_stays_in_its_row(env_kwargs: dict[str, Any]) -> None:
    switch = Switch()
    kwargs = {**env_kwargs, "samples": flaky_samples(switch), "num_samples": None}
    envs = ConversationVectorEnv(3, "mmrole", "token", **kwargs)
    reference = ConversationVectorEnv(3, "mmrole", "token", **kwargs)  # the same rows, without the fault
    envs.reset(seed=10)
    reference.reset(seed=10)
    token, eos = non_eos(envs), envs.setup.backbone.eos_token_id
    first = np.array([token, token, token])
    for venv in (envs, reference):
        venv.step(first)
    switch.failing = True
    obs, rewards, terminated, truncated, infos = envs.step(np.array([token, eos, token]))
    switch.failing = False
    assert terminated.tolist() == [False, True, False] and infos["_final_obs"].tolist() == [False, True, False]
    # The finished episode is reported in full; row 1's next one could not start.
    assert infos["final_info"]["judge_ratio"][1] == pytest.approx(rewards[1])
    assert infos["_reset_error"].tolist() == [False, True, False]
    assert "ImageLoadError" in infos["reset_error"][1] and "truncated JPEG" in infos["reset_error"][1]
    np.testing.assert_array_equal(obs[1], infos["final_obs"][1])
    assert infos["_sample_id"].tolist() == [True, False, True]
    ref_obs, *_ = reference.step(np.array([token, eos, token]))
    np.testing.assert_allclose(obs[[0, 2]], ref_obs[[0, 2]], atol=ATOL, rtol=0)
    # Row 1 refuses to step (and nothing moves) until it is reset.
    replies = [list(r) for r in envs.batch.replies]
    with pytest.raises(RuntimeError, match=r"rows \[1\].*ImageLoadError.*reset_mask"):
        envs.step(np.array([token, token, token]))
    assert envs.batch.replies == replies
    # Reset row 1 alone: it equals a fresh episode, rows 0 and 2 continue theirs untouched.
    mask = np.array([False, True, False])
    obs, infos = envs.reset(seed=20, options={"reset_mask": mask})
    assert infos["_sample_id"].tolist() == [False, True, False]
    ref_obs, _ = reference.reset(seed=20, options={"reset_mask": mask})
    fresh = ConversationEnv("mmrole", "token", **kwargs)
    fresh_obs, fresh_info = fresh.reset(seed=21)  # row i of a vector env seeded s replays a single env seeded s + i
    assert infos["sample_id"][1] == fresh_info["sample_id"]
    np.testing.assert_allclose(obs[1], fresh_obs, atol=ATOL, rtol=0)
    np.testing.assert_allclose(obs, ref_obs, atol=ATOL, rtol=0)
    fresh_steps = []
    for _ in range(3):
        obs, rewards, terminated, truncated, _ = envs.step(np.array([token, token, token]))
        ref_obs, ref_rewards, ref_terminated, *_ = reference.step(np.array([token, token, token]))
        np.testing.assert_allclose(obs, ref_obs, atol=ATOL, rtol=0)
        assert rewards.tolist() == pytest.approx(ref_rewards.tolist()) and (terminated == ref_terminated).all()
        fresh_steps.append((obs[1], rewards[1], bool(terminated[1]), bool(truncated[1])))
    for (o, r, te, tr), (fo, fr, fte, ftr, _) in zip(fresh_steps, rollout(fresh, [token] * 3)):
        np.testing.assert_allclose(o, fo, atol=ATOL, rtol=0)
        assert (r, te, tr) == (pytest.approx(fr), fte, ftr)


def test_image_failure_at_explicit_reset_breaks_the_reset_rows(env_kwargs: dict[str, Any]) -> None:
    switch = Switch()
    envs = ConversationVectorEnv(2, "mmrole", "token", samples=flaky_samples(switch),
                                 **{**env_kwargs, "num_samples": None})
    switch.failing = True
    with pytest.raises(ImageLoadError):
        envs.reset(seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.array([1, 2]))
    switch.failing = False
    envs.reset(seed=0)
    switch.failing = True
    with pytest.raises(ImageLoadError):
        envs.reset(options={"reset_mask": np.array([True, False])})
    with pytest.raises(RuntimeError, match=r"rows \[0\]"):
        envs.step(np.array([1, 2]))
    switch.failing = False
    envs.reset(options={"reset_mask": np.array([True, False])})
    envs.step(np.array([1, 2]))


def test_judge_error_breaks_only_the_judged_rows(env_kwargs: dict[str, Any]) -> None:
    # Latent sampling: the rows that were not being judged must also get their generators back.
    kwargs = {**env_kwargs, "max_reply_tokens": 3, "decoding": "sample"}
    envs = ConversationVectorEnv(2, "mmrole", "latent", reward=FlakyJudge(), **kwargs)
    reference = ConversationVectorEnv(2, "mmrole", "latent", **kwargs)
    one = np.array([True, False]), np.array([False, True])
    for venv in (envs, reference):
        venv.reset(seed=0)
        venv.step(np.array([1, 2]))
        venv.reset(options={"reset_mask": one[1]})  # row 1 now runs one step behind row 0
    actions = np.array([3, 4])
    ref_tokens = []
    for _ in range(2):
        ref_obs, _, terminated, truncated, infos = reference.step(actions)
        done = terminated | truncated
        ref_tokens.append([infos["final_info"]["token"][r] if done[r] else infos["token"][r] for r in range(2)])
        if done[0]:
            break
    assert done[0] and not done[1], "the test needs row 0 to finish while row 1 is mid-episode"
    failing_step = len(ref_tokens)
    for _ in range(failing_step - 1):
        envs.step(actions)
    with pytest.raises(ConnectionError):
        envs.step(actions)
    assert envs.batch.broken_rows() == [0]
    with pytest.raises(RuntimeError, match=r"rows \[0\].*ConnectionError"):
        envs.step(actions)
    # Row 0 restarts from its generator as the reference's autoreset did; row 1 retries the step that failed.
    obs, _ = envs.reset(options={"reset_mask": one[0]})
    np.testing.assert_allclose(obs[0], ref_obs[0], atol=ATOL, rtol=0)
    obs, _, _, _, infos = envs.step(actions)
    assert infos["token"][1] == ref_tokens[-1][1]
    np.testing.assert_allclose(obs[1], ref_obs[1], atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((3, 1), dtype=np.int64), np.zeros(2, dtype=np.int64), np.zeros(4, dtype=np.int64), np.int64(1),
     np.zeros(3), np.ones(3, dtype=bool), np.array([0, 1, -1]), np.array([0, 1, 10**9]), [[0, 1, 2]], "012"],
    ids=lambda a: f"{np.asarray(a).dtype}{np.asarray(a).shape}",
)
def test_vector_rejects_wrong_action_arrays(env_kwargs: dict[str, Any], bad: Any) -> None:
    envs = ConversationVectorEnv(3, "mmrole", "token", **env_kwargs)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(3,\)|lie in"):
        envs.step(bad)
    assert envs.batch.broken_rows() == [] and envs.batch.replies == [[], [], []]
    envs.step(np.array([1, 2, 3]))


# ---------------------------------------------------------------------------------------------------- judge output
GOOD = JudgeResult({"fluency": 5.0}, {"fluency": 5.0})


class ScriptedJudge:
    """Returns ``make(n)`` for ``n`` replies."""

    task = "mmrole"
    dimensions = ("fluency",)

    def __init__(self, make: Any) -> None:
        self.make = make

    def score(self, samples: Sequence[Sample], replies: Sequence[str]) -> Any:
        return self.make(len(samples))


BAD_OUTPUTS = {
    "too_few": lambda n: [GOOD] * (n - 1),
    "too_many": lambda n: [GOOD] * (n + 1),
    "none": lambda n: None,
    "generator": lambda n: (GOOD for _ in range(n)),
    "dict": lambda n: {"fluency": 5.0},
    "not_a_result": lambda n: [0.9] * n,
    "nan_score": lambda n: [JudgeResult({"fluency": math.nan}, {"fluency": 5.0})] * n,
    "inf_score": lambda n: [JudgeResult({"fluency": math.inf}, {"fluency": 5.0})] * n,
    "nan_reference": lambda n: [JudgeResult({"fluency": 5.0}, {"fluency": math.nan})] * n,
    "string_score": lambda n: [JudgeResult({"fluency": "9"}, {"fluency": 5.0})] * n,  # type: ignore[dict-item]
    "bool_score": lambda n: [JudgeResult({"fluency": True}, {"fluency": 5.0})] * n,
    "zero_reference": lambda n: [JudgeResult({"fluency": 5.0}, {"fluency": 0.0})] * n,
    "negative_reference": lambda n: [JudgeResult({"fluency": 5.0}, {"fluency": -3.0})] * n,
    "empty_reference": lambda n: [JudgeResult({"fluency": 5.0}, {})] * n,
}


@pytest.mark.parametrize("name", sorted(BAD_OUTPUTS))
def test_check_results_turns_protocol_violations_into_failures(name: str) -> None:
    results = check_results(BAD_OUTPUTS[name](2), 2)
    assert len(results) == 2 and all(r.failed and r.error for r in results)
    assert all(math.isnan(r.ratio) for r in results)


def test_check_results_keeps_valid_results() -> None:
    failure = JudgeResult.failure("timeout")
    assert check_results([GOOD, failure, JudgeResult({"a": np.float32(3)}, {"a": 6})], 3)[:2] == [GOOD, failure]
    assert check_results([], 0) == []


@pytest.mark.parametrize("name", sorted(BAD_OUTPUTS))
def test_bad_judge_output_is_a_judge_failure(env_kwargs: dict[str, Any], name: str) -> None:
    flagged = ConversationEnv("mmrole", "token", reward=ScriptedJudge(BAD_OUTPUTS[name]), judge_failure_reward=-1.0,
                              **env_kwargs)
    flagged.reset(seed=0)
    _, reward, terminated, _, info = flagged.step(flagged.setup.backbone.eos_token_id)
    assert terminated and reward == -1.0 and info["judge_failed"] and info["judge_error"].startswith("the judge")
    assert math.isnan(info["judge_ratio"]) and not info["is_success"] and flagged.judge_failures == 1
    strict = ConversationEnv("mmrole", "token", reward=ScriptedJudge(BAD_OUTPUTS[name]), **env_kwargs)
    strict.reset(seed=0)
    with pytest.raises(JudgeError, match="the judge"):
        strict.step(strict.setup.backbone.eos_token_id)
    with pytest.raises(RuntimeError, match="reset"):
        strict.step(0)


def test_every_registered_env_survives_a_judge_error(env_kwargs: dict[str, Any]) -> None:
    # Through gym.make's wrappers too: the refusal reaches the caller, and reset clears it.
    for env_id in ("lam/MMRole-Token-v0", "lam/MMRole-Latent-v0"):
        env = gym.make(env_id, reward=FlakyJudge(mode="fail", failures=10**6), **{**env_kwargs, "max_reply_tokens": 1})
        env.reset(seed=0)
        with pytest.raises(JudgeError):
            env.step(0)
        with pytest.raises(RuntimeError, match="stopped at an exception"):
            env.step(0)
        env.reset(seed=0)
