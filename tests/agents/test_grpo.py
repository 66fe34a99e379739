"""GRPO: pinned groups, group-relative advantages, loss normalisations, and learning on a tiny env."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pytest
import torch

from lam_agents.envs import make_vec_env
from lam_agents.grpo import GRPO
from lam_envs.data.types import Sample
from lam_envs.rewards.base import JudgeResult


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


class ReplyCodeJudge:
    """A judge whose score depends on every character of the reply, so that a group's replies get different returns
    (the rule judge gives the tiny model's gibberish 0 each time, and equal returns teach GRPO nothing)."""

    task = "mmrole"
    dimensions = ("fluency",)

    def score(self, samples: Sequence[Sample], replies: Sequence[str]) -> list[JudgeResult]:
        return [JudgeResult({"fluency": float(sum(map(ord, r)) % 11)}, {"fluency": 10.0}) for r in replies]


def test_rollouts_pin_each_group_to_one_prompt_and_learn(tiny_env_kwargs: dict[str, Any]) -> None:
    venv = make_vec_env("lam/MMRole-Latent-v0", 4, 0, {**tiny_env_kwargs, "reward": ReplyCodeJudge()})
    # A large step size, so that the KL to the reference after one update is far above float32 rounding.
    grpo = GRPO("MlpPolicy", venv, learning_rate=0.01, group_size=2, groups_per_update=2, batch_size=8, n_epochs=1,
                seed=0, device="cpu")
    before = {k: v.clone() for k, v in grpo.policy.state_dict().items()}
    grpo.learn(24)
    assert grpo.num_timesteps >= 24 and grpo._n_updates >= 2  # n_epochs=1: one update per rollout of <= 16 tokens
    # The last rollout: groups_per_update groups of group_size replies each, every one starting from its group's prompt.
    assert len(grpo._episodes) == grpo.groups_per_update * grpo.group_size
    groups: dict[int, set[bytes]] = {}
    for ep in grpo._episodes:
        assert 1 <= len(ep["actions"]) <= 4 and len(ep["obs"]) == len(ep["actions"]) == len(ep["logp"])
        assert np.isfinite(ep["logp"]).all() and (ep["logp"] <= 0).all() and np.isfinite(ep["return"])
        groups.setdefault(ep["group"], set()).add(ep["obs"][0].tobytes())
    # Every reply of a group starts from the same prompt (the same first observation h_0).
    assert sorted(groups) == list(range(grpo.groups_per_update)) and all(len(f) == 1 for f in groups.values())
    # The update moved the policy's action head; the reference (the policy as training began) stayed where it was.
    after = grpo.policy.state_dict()
    assert any("action_net" in k and not torch.equal(before[k], after[k]) for k in before)
    assert grpo._reference is not None
    assert all(torch.equal(before[k], v) for k, v in grpo._reference.state_dict().items())
    # The last update's statistics are logged, finite, and computed from that update's replies.
    logged = grpo.logger.name_to_value
    for key in ("train/loss", "train/kl_k3", "train/clip_fraction", "train/group_return_mean"):
        assert key in logged and math.isfinite(logged[key]), key
    returns = [e["return"] for e in grpo._episodes]
    assert logged["train/group_return_mean"] == pytest.approx(np.mean(returns))
    assert logged["train/reply_tokens_mean"] == pytest.approx(np.mean([len(e["actions"]) for e in grpo._episodes]))
    assert logged["train/zero_std_groups"] < grpo.groups_per_update and logged["train/loss"] != 0
    # k3 >= 0 for every token, and > 0 here: the first update moved the policy away from the frozen reference.
    assert logged["train/kl_k3"] > 0 and 0 <= logged["train/clip_fraction"] <= 1


def test_bad_settings_are_refused(tiny_env_kwargs: dict[str, Any]) -> None:
    venv = make_vec_env("lam/MMRole-Token-v0", 3, 0, tiny_env_kwargs)
    with pytest.raises(ValueError, match="multiple of group_size"):
        GRPO("MlpPolicy", venv, group_size=2)
    with pytest.raises(ValueError, match="loss_type"):
        GRPO("MlpPolicy", venv, group_size=3, loss_type="bnpo")  # type: ignore[arg-type]


def test_reply_advantages_compare_the_replies_to_the_same_exchange(grpo: GRPO) -> None:
    # Two dialogues about one prompt, two replies each: the first replies tie, the second ones differ.
    grpo._episodes = [
        {"group": 0, "return": 1.0, "reply_returns": np.array([0.5, 0.5]), "actions": np.zeros(3),
         "reply": np.array([0, 0, 1])},
        {"group": 0, "return": 0.5, "reply_returns": np.array([0.5, 0.0]), "actions": np.zeros(3),
         "reply": np.array([0, 1, 1])},
    ]
    grpo.loss_type = "dr_grpo"
    assert np.allclose(grpo._token_advantages(), [0.25] * 3 + [-0.25] * 3)  # the dialogue's return, every token
    grpo.advantage = "reply"
    assert np.allclose(grpo._token_advantages(), [0, 0, 0.25, 0, -0.25, -0.25])  # credit stays within the reply


def test_groups_are_whole_dialogues(tiny_env_kwargs: dict[str, Any]) -> None:
    venv = make_vec_env("lam/MMRole-Dialogue-Latent-v0", 4, 0,
                        {**tiny_env_kwargs, "reward": ReplyCodeJudge(), "max_reply_tokens": 3})
    grpo = GRPO("MlpPolicy", venv, learning_rate=0.01, group_size=2, groups_per_update=2, batch_size=8, n_epochs=1,
                seed=0, device="cpu", advantage="reply")
    grpo.learn(40)
    episodes = grpo._episodes
    assert len(episodes) == 4 and all(len(e["reply_returns"]) >= 2 for e in episodes)
    for e in episodes:
        assert e["reply"][0] == 0 and e["reply"][-1] == len(e["reply_returns"]) - 1
        assert math.isclose(e["reply_returns"].sum(), e["return"], abs_tol=1e-6)
    with pytest.raises(ValueError, match="advantage="):
        GRPO("MlpPolicy", venv, group_size=2, advantage="turn")


def test_groups_are_those_of_autoreset_without_the_discarded_episodes(
    tiny_env_kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import lam_agents.grpo as grpo_module
    from lam_agents.envs import inner_env

    def run(autoreset: bool) -> tuple[list[dict[str, Any]], int]:
        venv = make_vec_env("lam/MMRole-Latent-v0", 4, 0, {**tiny_env_kwargs, "reward": ReplyCodeJudge()})
        batch = inner_env(venv).venv.batch
        starts: list[int] = []
        begin = batch.begin
        batch.begin = lambda rows, *a, **k: starts.extend(rows) or begin(rows, *a, **k)  # type: ignore[method-assign]
        if autoreset:  # the rows as they were pinned before: a finished row starts a new, discarded episode
            monkeypatch.setattr(grpo_module, "pin_rows", lambda env, samples: inner_env(env).set_options(
                [{"sample_index": int(s)} for s in samples]))
        grpo = GRPO("MlpPolicy", venv, learning_rate=0.01, group_size=2, groups_per_update=2, batch_size=8,
                    n_epochs=1, seed=0, device="cpu")
        grpo.learn(24)
        monkeypatch.undo()
        return grpo._episodes, len(starts)

    waiting, starts_waiting = run(autoreset=False)
    restarting, starts_restarting = run(autoreset=True)
    assert starts_waiting < starts_restarting  # no prefill for episodes nobody reads
    assert len(waiting) == len(restarting)
    for a, b in zip(waiting, restarting):
        assert a["group"] == b["group"] and a["return"] == b["return"]
        for key in ("obs", "actions", "logp", "ref_logp"):
            np.testing.assert_array_equal(a[key], b[key])
