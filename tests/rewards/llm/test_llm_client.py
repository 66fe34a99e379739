from __future__ import annotations

import json
import pickle
import time
from email.utils import formatdate

import numpy as np
import pytest
from fake_server import Action, FakeChatServer, error, reply, scores_json

from lam_envs.rewards.llm.client import ChatClient, ChatError, JudgeStats, backoff_delay, parse_retry_after

MESSAGES = [{"role": "user", "content": "hi"}]


def _client(server: FakeChatServer, **kwargs: object) -> ChatClient:
    settings: dict = dict(timeout_s=2.0, max_retries=2, backoff_base_s=0.001, backoff_max_s=0.002)
    settings.update(kwargs)
    return ChatClient(server.base_url, "fake-judge", **settings)


def test_backoff_grows_is_capped_and_is_reproducible() -> None:
    delays = [backoff_delay(k, 1.0, 8.0, np.random.default_rng(0)) for k in range(6)]
    caps = [1, 2, 4, 8, 8, 8]
    assert all(cap / 2 <= d <= cap for d, cap in zip(delays, caps))
    again = [backoff_delay(k, 1.0, 8.0, np.random.default_rng(0)) for k in range(6)]
    other = [backoff_delay(k, 1.0, 8.0, np.random.default_rng(1)) for k in range(6)]
    assert delays == again and delays != other


def test_retry_after_seconds_dates_and_junk() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(formatdate(1_000_030, usegmt=True), now=1_000_000) == pytest.approx(30.0)
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None and parse_retry_after("nan") is None


def test_returns_content_and_sends_the_protocol_fields(fake_server: FakeChatServer) -> None:
    fake_server.push(reply("hello"))
    text = _client(fake_server).complete(MESSAGES, np.random.default_rng(0), temperature=0.7, max_tokens=9)
    assert text == "hello"
    [request] = fake_server.requests
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == {"model": "fake-judge", "messages": MESSAGES, "temperature": 0.7, "max_tokens": 9}


def test_a_seed_is_sent_only_when_given(fake_server: FakeChatServer) -> None:
    client = _client(fake_server)
    client.complete(MESSAGES, np.random.default_rng(0), seed=1234)
    client.complete(MESSAGES, np.random.default_rng(0))
    with_seed, without = fake_server.requests
    assert with_seed.body["seed"] == 1234 and "seed" not in without.body


def test_content_given_as_parts_is_joined(fake_server: FakeChatServer) -> None:
    body = {"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]}
    fake_server.push(Action(body=json.dumps(body)))
    assert _client(fake_server).complete(MESSAGES, np.random.default_rng(0)) == "ab"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<html>proxy error</html>", "did not return a chat completion"),
        (json.dumps({"choices": []}), "did not return a chat completion"),
        (json.dumps({"choices": [{"message": {"content": None}, "finish_reason": "length"}]}),
         "empty answer \\(finish_reason='length'\\)"),
    ],
)
def test_broken_success_bodies_are_bad_responses_not_retried(
    fake_server: FakeChatServer, body: str, message: str
) -> None:
    fake_server.push(Action(body=body))
    client = _client(fake_server)
    with pytest.raises(ChatError, match=message) as info:
        client.complete(MESSAGES, np.random.default_rng(0))
    assert info.value.cause == "bad_response" and client.stats.calls == 1


def test_retries_are_counted_by_cause(fake_server: FakeChatServer) -> None:
    fake_server.push(error(500), error(429), reply("ok"))
    client = _client(fake_server)
    assert client.complete(MESSAGES, np.random.default_rng(0)) == "ok"
    assert client.stats.snapshot() == {"pairs": 0, "calls": 3, "retries": 2, "retries/rate_limited": 1,
                                       "retries/server_error": 1, "failures": 0}


def test_zero_retries_means_one_try(fake_server: FakeChatServer) -> None:
    fake_server.push(error(503))
    client = _client(fake_server, max_retries=0)
    with pytest.raises(ChatError) as info:
        client.complete(MESSAGES, np.random.default_rng(0))
    assert info.value.cause == "server_error" and info.value.status == 503 and len(fake_server.requests) == 1


def test_auth_errors_hint_at_the_api_key(fake_server: FakeChatServer) -> None:
    fake_server.push(error(401))
    with pytest.raises(ChatError, match="check the api_key"):
        _client(fake_server).complete(MESSAGES, np.random.default_rng(0))


def test_stats_and_client_pickle(fake_server: FakeChatServer) -> None:
    client = _client(fake_server, api_key="sk-x")
    client.stats.add_failure("timeout")
    clone = pickle.loads(pickle.dumps(client))
    assert clone.stats.failures["timeout"] == 1 and "sk-x" not in repr(clone)
    assert clone.complete(MESSAGES, np.random.default_rng(0))
    clone.stats.reset()
    assert clone.stats.snapshot() == JudgeStats().snapshot()


# ------------------------------------------------------------------------------------ the overall deadline
def _timed(client: ChatClient) -> tuple[ChatError, float]:
    start = time.monotonic()
    with pytest.raises(ChatError) as info:
        client.complete(MESSAGES, np.random.default_rng(0))
    return info.value, time.monotonic() - start


def test_a_server_dripping_its_answer_is_cut_at_the_deadline(fake_server: FakeChatServer) -> None:
    # Each byte comes well within timeout_s, so only the deadline can end it (the whole answer would take ~10 s).
    fake_server.push(Action(content=scores_json(), drip_s=0.02))
    err, elapsed = _timed(_client(fake_server, timeout_s=1.0, deadline_s=0.3))
    assert err.cause == "timeout" and "deadline_s=0.3" in str(err) and "retries included" in str(err)
    assert 0.25 < elapsed < 1.5
    assert len(fake_server.requests) == 1  # no retry once the deadline has passed


def test_a_server_dripping_its_error_status_line_is_cut_at_the_deadline(fake_server: FakeChatServer) -> None:
    fake_server.push(Action(status=500, body="x" * 1000, drip_s=0.02))
    err, elapsed = _timed(_client(fake_server, timeout_s=1.0, deadline_s=0.3))
    assert err.cause == "timeout" and "deadline_s=0.3" in str(err) and elapsed < 1.5


def test_a_silent_server_hits_the_deadline_before_the_read_timeout(fake_server: FakeChatServer) -> None:
    fake_server.push(reply("late", delay_s=3.0))
    err, elapsed = _timed(_client(fake_server, timeout_s=2.0, deadline_s=0.3))
    assert err.cause == "timeout" and "deadline_s=0.3" in str(err) and elapsed < 1.5


def test_retries_stop_when_the_next_wait_would_pass_the_deadline(fake_server: FakeChatServer) -> None:
    fake_server.responder = lambda body: error(503, headers={"Retry-After": "0.3"})
    client = _client(fake_server, max_retries=10, deadline_s=0.5)
    err, elapsed = _timed(client)
    assert err.cause == "server_error" and "would pass deadline_s=0.5" in str(err)
    assert len(fake_server.requests) == 2 and elapsed < 0.5 + 0.5
    assert client.stats.snapshot()["retries/server_error"] == 1


def test_a_fast_answer_is_unaffected_by_the_deadline(fake_server: FakeChatServer) -> None:
    fake_server.push(error(500), reply("ok", delay_s=0.05))
    assert _client(fake_server, deadline_s=5.0).complete(MESSAGES, np.random.default_rng(0)) == "ok"


def test_bad_deadline_is_rejected(fake_server: FakeChatServer) -> None:
    with pytest.raises(ValueError, match="deadline_s must be > 0"):
        _client(fake_server, deadline_s=0)
