"""ReplyLogCallback: per-rollout reply statistics, judge failures, and decoded sample replies every N updates."""

from __future__ import annotations

import logging
import math
import re
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import KVWriter, Logger

from lam_agents.callbacks import CurveCallback, ReplyLogCallback
from lam_agents.envs import make_vec_env
from lam_agents.grpo import GRPO

LOGGER = "lam_agents.callbacks"


class Capture(KVWriter):
    """Keeps every dump of an SB3 logger, with the formats each key is excluded from."""

    def __init__(self) -> None:
        self.dumps: list[dict[str, Any]] = []
        self.excluded: list[dict[str, tuple[str, ...]]] = []

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        self.dumps.append(dict(key_values))
        self.excluded.append(dict(key_excluded))

    def close(self) -> None:
        pass


def _fed(callback: BaseCallback) -> tuple[Capture, Any]:
    capture = Capture()
    model = SimpleNamespace(logger=Logger(None, [capture]), num_timesteps=0)
    callback.init_callback(model)  # type: ignore[arg-type]
    callback.on_training_start({}, {})
    return capture, model


def _step(callback: BaseCallback, dones: list[bool], infos: list[dict[str, Any]]) -> None:
    callback.update_locals({"dones": np.array(dones), "infos": infos})
    assert callback.on_step()


def _info(sample: str, reply: str, tokens: int, ratio: float = 0.5, failed: bool = False) -> dict[str, Any]:
    return {"sample_id": sample, "reply": reply, "reply_tokens": tokens, "judge_ratio": math.nan if failed else ratio,
            "judge_failed": failed}


def test_statistics_failures_and_samples_every_n_rollouts(caplog: pytest.LogCaptureFixture) -> None:
    callback = ReplyLogCallback(sample_every=2, n_samples=2)
    capture, model = _fed(callback)
    caplog.set_level(logging.INFO, logger=LOGGER)
    for rollout in (1, 2, 3):
        callback.on_rollout_start()
        # A row that is not done, and a done row without reply keys (an autoreset's info), are not episodes.
        _step(callback, [False, True], [_info("x", "not yet", 9), {"episode": {"r": 0.0}}])
        _step(callback, [True, True],
              [_info(f"a{rollout}", "hello", 2, 0.2), _info(f"b{rollout}", "oops", 4, failed=True)])
        _step(callback, [True, False], [_info(f"c{rollout}", "third", 3, 0.8), _info("y", "", 1)])
        callback.on_rollout_end()
        model.logger.dump(rollout)
    for dump in capture.dumps:
        assert dump["replies/length_mean"] == pytest.approx(3.0)  # (2 + 4 + 3) / 3, failed replies counted
        assert dump["replies/judge_ratio_mean"] == pytest.approx(0.5)  # (0.2 + 0.8) / 2, the failure left out
        assert dump["replies/judge_failures"] == 1
    assert [d["replies/judge_failures_total"] for d in capture.dumps] == [1, 2, 3]
    # Decoded samples only at rollouts 2, 4, ...: the first n_samples finished replies of that rollout, as text that
    # goes to tensorboard only.
    assert [sorted(k for k in d if k.startswith("replies/sample")) for d in capture.dumps] == [
        [], ["replies/sample_0", "replies/sample_1"], []]
    second = capture.dumps[1]
    assert second["replies/sample_0"] == "[a2] 'hello'" and second["replies/sample_1"] == "[b2] 'oops'"
    assert set(capture.excluded[1]["replies/sample_0"]) == {"stdout", "log", "csv", "json"}
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
        "update 2 sample reply [a2] 'hello'", "update 2 sample reply [b2] 'oops'"]


def test_no_episodes_no_samples_and_bad_settings(caplog: pytest.LogCaptureFixture) -> None:
    callback = ReplyLogCallback(sample_every=0, n_samples=5)
    capture, model = _fed(callback)
    caplog.set_level(logging.INFO, logger=LOGGER)
    callback.on_rollout_start()
    _step(callback, [False], [_info("x", "never done", 1)])
    callback.on_rollout_end()
    model.logger.dump(0)
    _step(callback, [True], [_info("z", "all judged", 2, 1.0)])
    callback.on_rollout_end()
    model.logger.dump(1)
    # No finished episode: no mean recorded (rather than a NaN or a 0), but the failure counters always are.
    assert capture.dumps[0] == {"replies/judge_failures": 0, "replies/judge_failures_total": 0}
    assert capture.dumps[1]["replies/length_mean"] == 2 and capture.dumps[1]["replies/judge_ratio_mean"] == 1.0
    assert not any(k.startswith("replies/sample") for d in capture.dumps for k in d)
    assert not [r for r in caplog.records if r.name == LOGGER]  # sample_every=0: never
    for bad in ({"sample_every": -1}, {"n_samples": -1}):
        with pytest.raises(ValueError, match="must be >= 0"):
            ReplyLogCallback(**bad)


class Episodes(BaseCallback):
    """The (sample id, reply) of every finished episode, one list per rollout."""

    def __init__(self) -> None:
        super().__init__()
        self.rollouts: list[list[tuple[str, str]]] = []

    def _on_rollout_start(self) -> None:
        self.rollouts.append([])

    def _on_step(self) -> bool:
        for done, info in zip(self.locals["dones"], self.locals["infos"]):
            if done and "reply_tokens" in info:
                self.rollouts[-1].append((info["sample_id"], info["reply"]))
        return True


def test_ppo_logs_the_replies_it_wrote(tiny_env_kwargs: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    venv = make_vec_env("lam/MMRole-Latent-v0", 2, 0, tiny_env_kwargs)
    model = PPO("MlpPolicy", venv, n_steps=4, batch_size=8, n_epochs=1, seed=0, device="cpu")
    capture = Capture()
    model.set_logger(Logger(None, [capture]))
    episodes, replies = Episodes(), ReplyLogCallback(sample_every=2, n_samples=2)
    caplog.set_level(logging.INFO, logger=LOGGER)
    model.learn(32, callback=CallbackList([episodes, replies]))
    assert replies.rollouts == len(episodes.rollouts) == 4  # 32 steps of 2 rows x 4 steps
    logged = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    # Every second update, the first two replies that update finished, decoded, with their sample ids.
    expected = [f"update {u} sample reply [{sid}] {reply!r}"
                for u in (2, 4) for sid, reply in episodes.rollouts[u - 1][:2]]
    assert logged == expected and len(logged) == 4
    assert all(re.fullmatch(r"update \d sample reply \[mmrole-\d+-\w+-\d+\] '.*'", m, re.S) for m in logged)
    lengths = [d["replies/length_mean"] for d in capture.dumps if "replies/length_mean" in d]
    assert lengths and all(1 <= x <= tiny_env_kwargs["max_reply_tokens"] for x in lengths)


def test_grpo_callbacks_see_only_the_group_replies(tiny_env_kwargs: dict[str, Any]) -> None:
    venv = make_vec_env("lam/MMRole-Latent-v0", 4, 0, tiny_env_kwargs)
    grpo = GRPO("MlpPolicy", venv, group_size=2, groups_per_update=2, batch_size=8, n_epochs=1, seed=0, device="cpu")
    capture = Capture()
    grpo.set_logger(Logger(None, [capture]))
    episodes, curve = Episodes(), CurveCallback()
    grpo.learn(24, callback=CallbackList([episodes, ReplyLogCallback(sample_every=1), curve]))
    # Rows restarted after their reply finished are not seen: exactly one episode per row and rollout.
    assert all(len(r) == grpo.groups_per_update * grpo.group_size for r in episodes.rollouts)
    assert len(curve.points) == sum(len(r) for r in episodes.rollouts)
    last = [d for d in capture.dumps if "replies/length_mean" in d][-1]
    assert last["replies/length_mean"] == pytest.approx(np.mean([len(e["actions"]) for e in grpo._episodes]))
