"""Env keywords as JSON: --env-kwargs parsing, the secret-free run.json record, and the rebuild for evaluation."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from lam_agents.env_kwargs import env_kwargs_from_record, env_kwargs_record, parse_env_kwargs
from lam_envs.data.types import Split
from lam_envs.rewards.llm import LLMJudgeConfig

KEY = "sk-LAMtest-envkw-0123456789abcdef"
JUDGE = {"base_url": "http://127.0.0.1:8000/v1", "model": "judge", "api_key_env": "JUDGE_API_KEY"}


def _no_key(text: str) -> None:
    assert not [KEY[i : i + 8] for i in range(len(KEY) - 7) if KEY[i : i + 8] in text], text[:300]


def test_parse_plain_keywords_and_an_llm_judge() -> None:
    kwargs = parse_env_kwargs(json.dumps({"max_reply_tokens": 32, "split": "test_id",
                                          "reward": {"llm_judge": {**JUDGE, "timeout_s": 5, "on_failure": "flag"}}}))
    assert kwargs["max_reply_tokens"] == 32 and kwargs["split"] == "test_id"
    assert kwargs["reward"] == LLMJudgeConfig(**JUDGE, timeout_s=5, on_failure="flag")
    assert parse_env_kwargs('{"reward": "rule"}') == {"reward": "rule"} and parse_env_kwargs("{}") == {}


def test_judge_failure_reward_makes_the_llm_judge_flag(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for judge in (JUDGE, {**JUDGE, "on_failure": "raise"}):
        kwargs = parse_env_kwargs(json.dumps({"judge_failure_reward": 0.0, "reward": {"llm_judge": judge}}))
        assert kwargs["reward"].on_failure == "flag" and kwargs["judge_failure_reward"] == 0.0
    assert "judge_failure_reward=0.0 applies" in caplog.text
    assert parse_env_kwargs(json.dumps({"reward": {"llm_judge": JUDGE}}))["reward"].on_failure == "raise"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"max_reply_tokens": 32', "not JSON .*line 1 column"),
        ('[1, 2]', "must be a JSON object of env keywords, got a list"),
        ('{"max_reply_token": 32}', "unknown env keyword 'max_reply_token' \\(did you mean 'max_reply_tokens'\\?\\)"),
        ('{"reward": {"llm": {}}}', 'reward must be "rule" or \\{"llm_judge"'),
        ('{"reward": {"llm_judge": {"model": "m"}}}', "reward.llm_judge: LLM judge settings need base_url"),
        (json.dumps({"reward": {"llm_judge": {**JUDGE, "api_key": KEY}}}), "must not contain api_key.*api_key_env"),
        (json.dumps({"reward": {"llm_judge": {**JUDGE, "api_kye": KEY}}}), "'api_kye'"),
        (json.dumps({"reward": {"llm_judge": {**JUDGE, "timeout_s": "soon"}}}), "timeout_s must be a number"),
        ('{"max_reply_tokens": 0}', "--env-kwargs: max_reply_tokens"),
        ('{"reward": "llm"}', "--env-kwargs: reward is a string other than 'rule'"),
    ],
    ids=["bad_json", "not_object", "typo", "bad_reward_shape", "judge_missing", "literal_key", "judge_typo",
         "judge_type", "bad_value", "bad_reward"],
)
def test_parse_errors_name_the_key_and_never_echo_the_text(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_env_kwargs(text)
    _no_key(str(info.value))


def test_record_is_json_without_secrets_and_marks_what_it_cannot_hold(tmp_path: Path) -> None:
    class Loaded:
        def __repr__(self) -> str:
            return f"Loaded(token={KEY})"

    kwargs: dict[str, Any] = {
        "backbone": tmp_path / "ckpt", "split": Split.TEST_ID, "num_samples": 4, "judge_failure_reward": 0.0,
        "reward": LLMJudgeConfig(base_url="http://h/v1", model="m", api_key=KEY),
        "latent_model": Loaded(), "dataset": {"dialogues": tmp_path / "d.json", "api_key": KEY, "ids": (1, 2)},
    }
    record = env_kwargs_record(kwargs)
    text = json.dumps(record, allow_nan=False)
    _no_key(text)
    assert record["backbone"] == str(tmp_path / "ckpt") and record["split"] == "test_id"
    assert record["dataset"]["ids"] == [1, 2] and record["dataset"]["api_key"]["not_recorded"] == "secret"
    assert record["latent_model"]["not_recorded"].endswith("Loaded") and "pass latent_model again" in \
        record["latent_model"]["note"]
    judge = record["reward"]["llm_judge"]
    assert "api_key" not in judge and "api_key_env" in judge["api_key_not_stored"]


def test_record_round_trip_rebuilds_the_judge() -> None:
    kwargs = {"max_reply_tokens": 8, "reward": LLMJudgeConfig(**JUDGE, deadline_s=20.0, on_failure="flag")}
    record = json.loads(json.dumps(env_kwargs_record(kwargs)))
    assert env_kwargs_from_record(record) == kwargs
    assert parse_env_kwargs(json.dumps(record)) == kwargs  # a run's record is valid --env-kwargs


def test_rebuild_of_a_judge_with_an_unstored_key_needs_a_variable() -> None:
    record = env_kwargs_record({"reward": LLMJudgeConfig(base_url="http://h/v1", model="m", api_key=KEY)})
    with pytest.raises(ValueError, match="run.json env_kwargs: reward.llm_judge: .*--judge-api-key-env"):
        env_kwargs_from_record(record)
    assert env_kwargs_from_record(record, judge_api_key_env="MY_KEY")["reward"].api_key_env == "MY_KEY"
    assert env_kwargs_from_record(record, require_judge_key=False)["reward"].api_key is None


def test_rebuild_refuses_what_was_not_recorded() -> None:
    record = env_kwargs_record({"latent_model": object()})
    with pytest.raises(ValueError, match="'latent_model' was a builtins.object .*env_overrides"):
        env_kwargs_from_record(record)


def test_rebuild_reads_an_old_run_with_the_key_in_plain_text(caplog: pytest.LogCaptureFixture) -> None:
    # What `asdict(TrainConfig)` wrote before: every judge field, the key among them.
    old = {"reward": {**JUDGE, "api_key_env": None, "api_key": KEY, "timeout_s": 60.0}, "num_samples": 2}
    old["reward"].pop("api_key_env")
    with pytest.raises(ValueError, match="literal api_key") as info:
        env_kwargs_from_record(old)
    _no_key(str(info.value))
    caplog.set_level(logging.WARNING)
    kwargs = env_kwargs_from_record(old, judge_api_key_env="JUDGE_API_KEY")
    assert kwargs["reward"] == LLMJudgeConfig(**JUDGE) and kwargs["num_samples"] == 2
    assert "stores the LLM judge's api_key in plain text" in caplog.text
    _no_key(caplog.text)
