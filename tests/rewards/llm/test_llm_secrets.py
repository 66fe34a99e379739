"""The judge's API key stays secret: scrubbed from whatever the server sends back (in logs, errors, results), never in
a config's record, repr or error messages; the record round-trips and the key is read from the variable it names."""

from __future__ import annotations

import json
import logging
import pickle
from dataclasses import replace
from typing import Any, Callable

import numpy as np
import pytest
from fake_server import ECHO_AUTH, Action, FakeChatServer, error, reply, scores_json

from lam_envs.data.types import Sample
from lam_envs.rewards.base import JudgeError
from lam_envs.rewards.llm import LLMJudge, LLMJudgeConfig
from lam_envs.rewards.llm.client import ChatClient, ChatError, scrub_secret
from lam_envs.rewards.llm.judge import API_KEY_NOT_STORED

MakeJudge = Callable[..., LLMJudge]
KEY = "sk-LAMtest-7f3a9c1e5b2d8460aa"
ENV = "LAM_TEST_JUDGE_KEY"


def assert_no_key(text: str) -> None:
    """Not the key, nor any 8 characters of it in a row (a key cut short is still a leak)."""
    leaks = [KEY[i : i + 8] for i in range(len(KEY) - 7) if KEY[i : i + 8] in text]
    assert not leaks, f"key material {leaks[:3]} in: {text[:300]!r}"


def _echo_error(status: int, **kwargs: Any) -> Action:
    body = json.dumps({"error": {"message": f"invalid key; you sent Authorization: {ECHO_AUTH}"}})
    return Action(status=status, body=body, **kwargs)


# Each class of fault through which server text reaches the client, with a server that echoes the key in it.
LEAKS: dict[str, list[Action]] = {
    "client_error_body": [_echo_error(401)],
    "server_error_body_retried": [_echo_error(500), _echo_error(503), _echo_error(502)],
    "rate_limited_body": [_echo_error(429), _echo_error(429), _echo_error(429)],
    "unreadable_retry_after_header": [error(503, headers={"Retry-After": f"later {ECHO_AUTH}"})] * 3,
    "non_json_success_body": [Action(body=f"<html>proxy says hi to {ECHO_AUTH}</html>")],
    "empty_answer_finish_reason": [Action(body=json.dumps(
        {"choices": [{"message": {"content": ""}, "finish_reason": f"echo {ECHO_AUTH}"}]}))],
    "unusable_answer_re_asked": [reply(f"I refuse. {ECHO_AUTH}")] * 2,
    "long_body_cut_inside_the_key": [Action(status=400, body="x" * 495 + ECHO_AUTH)],
}


@pytest.mark.parametrize("on_failure", ["flag", "raise"])
@pytest.mark.parametrize("fault", sorted(LEAKS))
def test_key_echoed_by_the_server_is_scrubbed_from_logs_errors_and_results(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample, caplog: pytest.LogCaptureFixture,
    fault: str, on_failure: str,
) -> None:
    fake_server.push(*LEAKS[fault])
    fake_server.responder = lambda body: _echo_error(400)  # whatever else is asked also echoes the key
    judge = make_judge(api_key=KEY, on_failure=on_failure, max_retries=2, max_parse_retries=1)
    caplog.set_level(logging.DEBUG)
    if on_failure == "raise":
        with pytest.raises(JudgeError) as info:
            judge.score([mmrole_sample], ["x"])
        text = str(info.value)
    else:
        [result] = judge.score([mmrole_sample], ["x"])
        assert result.failed
        text = result.error or ""
    assert fake_server.requests[0].headers["Authorization"] == f"Bearer {KEY}"  # the server did get the key
    if fault != "long_body_cut_inside_the_key":  # there the quote ends before the echo ("...Beare...")
        assert "***" in text + caplog.text  # the echo was there, scrubbed
    assert_no_key(text)
    assert_no_key(caplog.text)
    assert all(KEY not in str(r.args) for r in caplog.records)


def test_a_good_answer_that_echoes_the_key_is_scored_with_the_key_scrubbed(
    fake_server: FakeChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake_server.push(reply(f"{scores_json()} (request had {ECHO_AUTH})"))
    client = ChatClient(fake_server.base_url, "fake-judge", api_key=KEY, timeout_s=2.0)
    caplog.set_level(logging.DEBUG)
    answer = client.complete([{"role": "user", "content": "hi"}], np.random.default_rng(0))
    assert answer.endswith("(request had Bearer ***)")
    assert_no_key(answer + caplog.text)


def test_chat_error_from_the_client_is_scrubbed(fake_server: FakeChatServer) -> None:
    fake_server.push(_echo_error(403))
    client = ChatClient(fake_server.base_url, "fake-judge", api_key=KEY, timeout_s=2.0, max_retries=0)
    with pytest.raises(ChatError) as info:
        client.complete([{"role": "user", "content": "hi"}], np.random.default_rng(0))
    assert info.value.cause == "http_error" and "Bearer ***" in str(info.value)
    assert_no_key(str(info.value) + repr(info.value) + repr(client))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"a {KEY} b {KEY}", "a *** b ***"),
        (json.dumps({"k": 'sk-"quoted\\key'}), '{"k": "***"}'),  # the JSON-escaped form of the key below
        ("cut inside the key: " + KEY[:12], "cut inside the key: ***"),
        ("nothing to hide", "nothing to hide"),
    ],
    ids=["every_copy", "json_escaped", "cut_short", "clean"],
)
def test_scrub_secret(text: str, expected: str) -> None:
    secret = 'sk-"quoted\\key' if "quoted" in text else KEY
    assert scrub_secret(text, secret) == expected


def test_scrub_truncates_after_scrubbing() -> None:
    # Cutting first would keep "xxxxxxxxxx" + 10 characters of the key.
    assert scrub_secret("x" * 10 + KEY + "y" * 10, KEY, max_chars=20) == "x" * 10 + "***" + "y" * 7 + "..."
    assert scrub_secret("x" * 10, None, max_chars=5) == "xxxxx..."


# ------------------------------------------------------------------------------------- the config and its record
def test_key_from_the_named_environment_variable(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    judge = make_judge(api_key_env=ENV)
    monkeypatch.delenv(ENV)  # read when the judge was built; a pickled judge keeps it (env workers)
    clone = pickle.loads(pickle.dumps(judge))
    judge.score([mmrole_sample], ["x"])
    clone.score([mmrole_sample], ["x"])
    assert [r.headers["Authorization"] for r in fake_server.requests] == [f"Bearer {KEY}"] * 2
    assert_no_key(repr(judge) + repr(judge.config) + json.dumps(judge.config.to_record()))


def test_unset_environment_variable_is_an_error_naming_it(make_judge: MakeJudge,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(ValueError, match=f"api_key_env='{ENV}'.*not set.*export {ENV}="):
        make_judge(api_key_env=ENV)
    monkeypatch.setenv(ENV, "")
    with pytest.raises(ValueError, match="not set \\(or is empty\\)"):
        make_judge(api_key_env=ENV)


def _config(**overrides: Any) -> LLMJudgeConfig:
    return LLMJudgeConfig(**{"base_url": "http://127.0.0.1:1/v1", "model": "m", **overrides})


def test_record_round_trip_keeps_the_variable_name() -> None:
    config = _config(api_key_env=ENV, timeout_s=5, deadline_s=30.0, on_failure="flag", image_max_side=None)
    record = config.to_record()
    assert record["api_key_env"] == ENV and "api_key" not in record and API_KEY_NOT_STORED not in record
    assert LLMJudgeConfig.from_record(json.loads(json.dumps(record))) == config


def test_record_of_a_literal_key_says_it_was_not_stored_and_how_to_supply_it() -> None:
    config = _config(api_key=KEY)
    record = config.to_record()
    text = json.dumps(record)
    assert_no_key(text + repr(config) + str(config))
    assert "api_key" not in record and "api_key_env" in record[API_KEY_NOT_STORED]
    with pytest.raises(ValueError, match="literal api_key.*api_key_env.*--judge-api-key-env") as info:
        LLMJudgeConfig.from_record(record)
    assert_no_key(str(info.value))
    rebuilt = LLMJudgeConfig.from_record(record, api_key_env=ENV)
    assert rebuilt.api_key is None and rebuilt.api_key_env == ENV
    keyless = LLMJudgeConfig.from_record(record, require_key=False)
    assert keyless.api_key is None and keyless.api_key_env is None


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"base_url": "http://h/v1", "model": "m", "api_key": KEY}, "must not contain api_key.*api_key_env"),
        ({"base_url": "http://h/v1", "model": "m", "api_kye": KEY}, "'api_kye' \\(did you mean 'api_key_env'\\?\\)"),
        ({"model": "m"}, "need base_url"),
        ({"base_url": "http://h/v1", "model": "m", "api_key_env": KEY}, "api_key_env must be the name of an env"),
        ({"base_url": "http://h/v1", "model": "m", "timeout_s": "60"}, "timeout_s must be a number, got a str"),
        ({"base_url": "http://h/v1", "model": "m", "deadline_s": 0}, "deadline_s must be > 0"),
        ({"base_url": "http://h/v1", "model": "m", "deadline_s": float("inf")}, "deadline_s must be > 0 seconds"),
        ({"base_url": "http://h/v1", "model": "m", "temperature": None}, "temperature must be a number"),
        ({"base_url": "http://h/v1", "model": "m", "image_max_side": True}, "image_max_side must be an integer"),
        (["http://h/v1", "m"], "must be an object of LLMJudgeConfig fields, got a list"),
    ],
    ids=["api_key", "typo", "missing", "key_as_env_name", "type", "deadline_zero", "deadline_inf", "none_number",
         "bool_int", "not_a_mapping"],
)
def test_record_errors_name_the_field_and_never_the_key(record: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        LLMJudgeConfig.from_record(record)
    assert_no_key(str(info.value))


def test_construction_errors_never_show_the_key() -> None:
    for overrides, message in [({"api_key": KEY, "api_key_env": ENV}, "not both"),
                               ({"api_key": KEY.encode()}, "api_key must be a string or None, got a bytes"),
                               ({"api_key_env": KEY}, "not the key itself")]:
        with pytest.raises(ValueError, match=message) as info:
            _config(**overrides)
        assert_no_key(str(info.value))


def test_raise_mode_error_says_how_to_use_judge_failure_reward(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.push(error(400))
    with pytest.raises(JudgeError, match="set on_failure='flag'.*judge_failure_reward=<float> on the env"):
        make_judge(on_failure="raise").score([mmrole_sample], ["x"])
    flagged = replace(make_judge(on_failure="raise").config, on_failure="flag")
    fake_server.push(error(400))
    [result] = LLMJudge("mmrole", flagged).score([mmrole_sample], ["x"])
    assert result.failed
