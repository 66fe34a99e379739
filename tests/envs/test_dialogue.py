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


class EchoUser:
    """A simulated user that asks for more, naming the seed it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def next_turn(self, sample: Any, reply: str, seed: int) -> str:
        self.calls.append((sample.id, reply, seed))
        return f"Tell me more (request {len(self.calls)})."


class AnyReferenceJudge:
    """Scores the reply's length; records whether each sample had a reference."""

    task = "pcogalign"
    dimensions = ("conversational_flow",)

    def __init__(self) -> None:
        self.references: list[str] = []

    def score(self, samples: Any, replies: Any) -> list:
        from lam_envs.rewards.base import JudgeResult

        self.references += [s.reference for s in samples]
        return [JudgeResult({"conversational_flow": float(len(r) % 10)}, {"conversational_flow": 10.0}) for r in replies]


def test_a_simulated_user_continues_the_dialogue_past_its_script(env_kwargs: dict[str, Any]) -> None:
    user, judge = EchoUser(), AnyReferenceJudge()
    samples = synthetic_samples("pcogalign", "rl", n=2)  # one user turn and 1-2 generated follow-ups each
    kwargs = {**env_kwargs, "samples": samples, "reward": judge, "user_simulator": user, "max_turns": 4,
              "max_reply_tokens": 3}
    env = gym.make("lam/PCogAlign-Dialogue-Token-v0", **kwargs)
    _, info = env.reset(seed=0)
    assert info["turns"] == 4
    batch = env.unwrapped._batch
    done, replies = False, []
    while not done:
        _, _, done, _, info = env.step(env.action_space.sample())
        if info["reply_done"]:
            replies.append(info["reply"])
    # The scripted turns, then the simulated ones; the judge saw references only where the script had them.
    script = batch.setup.scripts[int(batch.sample_index[0])]
    n_scripted = len(script)
    assert n_scripted <= 3 and len(replies) == 4 and len(user.calls) == 4 - n_scripted
    assert [r == "" for r in judge.references] == [k >= n_scripted for k in range(4)]
    last = batch.turn_sample(0)
    assert last.query == f"Tell me more (request {len(user.calls)})."
    assert [t.text for t in last.dialogue if t.role == "assistant"] == replies[:-1]
    assert user.calls[-1][1] == replies[-2]  # the user answered the agent's own reply
    # Seeded: the same sample and turn give the same seed.
    again = EchoUser()
    env2 = gym.make("lam/PCogAlign-Dialogue-Token-v0", **{**kwargs, "user_simulator": again,
                                                          "reward": AnyReferenceJudge()})
    env2.reset(seed=0)
    env2.action_space.seed(0)
    env.action_space.seed(0)
    env.reset(seed=0)
    seeds_a, seeds_b = [], []
    for e, u, out in ((env, user, seeds_a), (env2, again, seeds_b)):
        u.calls.clear()
        done = False
        while not done:
            _, _, done, _, _ = e.step(e.action_space.sample())
        out += [c[2] for c in u.calls]
    assert seeds_a == seeds_b and seeds_a


def test_simulated_user_settings_are_checked(env_kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="dialogue=True"):
        gym.make("lam/PCogAlign-Token-v0", **{**env_kwargs, "user_simulator": EchoUser(), "reward": AnyReferenceJudge()})
    with pytest.raises(ValueError, match="LLMJudgeConfig"):
        gym.make("lam/PCogAlign-Dialogue-Token-v0", **{**env_kwargs, "user_simulator": EchoUser()})
    with pytest.raises(TypeError, match="next_turn"):
        gym.make("lam/PCogAlign-Dialogue-Token-v0", **{**env_kwargs, "user_simulator": "http://x"})


def test_a_failing_simulated_user_breaks_the_row_like_a_judge(env_kwargs: dict[str, Any]) -> None:
    class Down:
        def next_turn(self, sample: Any, reply: str, seed: int) -> str:
            raise RuntimeError("endpoint down")

    samples = synthetic_samples("pcogalign", "rl", n=1)
    env = gym.make("lam/PCogAlign-Dialogue-Token-v0", **{**env_kwargs, "samples": samples, "user_simulator": Down(),
                                                         "reward": AnyReferenceJudge(), "max_reply_tokens": 2,
                                                         "max_turns": 5})
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="endpoint down"):
        for _ in range(10):
            env.step(1)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(1)
    env.reset(seed=1)  # a reset starts it again


def test_a_user_simulator_config_builds_the_endpoint_client() -> None:
    from lam_envs.envs.resolve import resolve_user_simulator
    from lam_envs.rewards.llm import UserSimulator, UserSimulatorConfig

    config = UserSimulatorConfig(base_url="http://127.0.0.1:9/v1", model="sim")
    assert isinstance(resolve_user_simulator(config), UserSimulator)
    user = EchoUser()
    assert resolve_user_simulator(user) is user and resolve_user_simulator(None) is None
