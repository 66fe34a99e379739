"""UserSimulator against the loopback fake server: what a turn's request carries, its failures, its secrets, its
config."""

from __future__ import annotations

import json
import logging
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from fake_server import ECHO_AUTH, Action, FakeChatServer, error, reply

from lam_envs.data.types import ImageFile, Sample
from lam_envs.rewards.llm import UserSimulator, UserSimulatorConfig, UserSimulatorError

MakeUser = Callable[..., UserSimulator]
KEY = "sk-LAMuser-4b1d9e7a2c6f8035bb"
ENV = "LAM_TEST_USER_SIM_KEY"


@pytest.fixture
def make_user(fake_server: FakeChatServer) -> MakeUser:
    """A simulator on the fake server with tiny timeouts and backoffs; keyword overrides go to the config."""

    def make(**overrides: Any) -> UserSimulator:
        settings: dict[str, Any] = dict(base_url=fake_server.base_url, model="fake-user", timeout_s=2.0,
                                        max_retries=2, backoff_base_s=0.001, backoff_max_s=0.01)
        settings.update(overrides)
        return UserSimulator(UserSimulatorConfig(**settings))

    return make


def assert_no_key(text: str) -> None:
    """Not the key, nor any 8 characters of it in a row."""
    leaks = [KEY[i : i + 8] for i in range(len(KEY) - 7) if KEY[i : i + 8] in text]
    assert not leaks, f"key material {leaks[:3]} in: {text[:300]!r}"


# ----------------------------------------------------------------------------------------- what a turn sends
def test_mmrole_turn_sends_seed_model_persona_dialogue_reply_and_image(
    make_user: MakeUser, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.push(reply("  Is the buoy there to warn the ships, captain?\n"))
    user = make_user(temperature=0.9, max_tokens=100, image_format="PNG")
    text = user.next_turn(mmrole_sample, "A red buoy, lad, bobbing in the swell.", seed=1234)
    assert text == "Is the buoy there to warn the ships, captain?"  # stripped
    [request] = fake_server.requests
    body = request.body
    assert request.path == "/v1/chat/completions"
    assert (body["model"], body["seed"], body["temperature"], body["max_tokens"]) == ("fake-user", 1234, 0.9, 100)
    sent = request.user_text()
    for expected in ("Captain Brine", "A retired sea captain", "gruff but kind", "nosy neighbour",
                     "Human: What a view, captain.\nCaptain Brine: Aye, the sea is calm today.\n"
                     "Human: What is that red thing in the middle?\n"
                     "Captain Brine: A red buoy, lad, bobbing in the swell.",
                     "Write Human's next message"):
        assert expected in sent, expected
    assert mmrole_sample.reference not in sent  # the user reacts to the agent's reply, not to the reference
    system = body["messages"][0]["content"]
    assert "You play the human" in system and "follow-up question" in system
    [url] = request.image_urls()
    assert url.startswith("data:image/png;base64,")
    assert user.stats.snapshot() == {"pairs": 1, "calls": 1, "retries": 0, "failures": 0}


def test_pcogalign_turn_plays_the_person_in_the_situation(
    make_user: MakeUser, fake_server: FakeChatServer, pcogalign_sample: Sample
) -> None:
    fake_server.push(reply("It is too heavy for me alone. Who should I call at the park office?"))
    text = make_user().next_turn(pcogalign_sample, "Move the branch aside, then tell the office.", seed=7)
    assert text.startswith("It is too heavy")
    [request] = fake_server.requests
    assert request.body["seed"] == 7
    sent = request.user_text()
    for expected in ("parent at home; volunteer gardener at park", "You are now at: park (here you are a volunteer "
                     "gardener)", "fallen branch blocks the footpath", "practical steps I can take",
                     "User: What should I do here?\nAssistant: Move the branch aside, then tell the office."):
        assert expected in sent, expected
    system = request.body["messages"][0]["content"]
    assert "role-play a real person" in system and "next step" in system and "another detail" in system
    assert len(request.image_urls()) == 1


def test_without_send_image_no_image_is_sent_or_read(
    make_user: MakeUser, fake_server: FakeChatServer, pcogalign_sample: Sample, tmp_path: Path
) -> None:
    fake_server.push(reply("Thanks, what next?"))
    missing = replace(pcogalign_sample, image=ImageFile(tmp_path / "gone.png"))  # never opened
    assert make_user(send_image=False).next_turn(missing, "r", seed=0) == "Thanks, what next?"
    [request] = fake_server.requests
    assert request.image_urls() == [] and [p["type"] for p in request.body["messages"][1]["content"]] == ["text"]


def test_the_same_seed_sends_the_same_request_and_a_numpy_seed_is_sent_as_an_integer(
    make_user: MakeUser, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    user = make_user()
    user.next_turn(mmrole_sample, "r", seed=5)
    user.next_turn(mmrole_sample, "r", seed=np.random.default_rng(0).integers(2**62))
    user.next_turn(mmrole_sample, "r", seed=5)
    first, numpy_seeded, again = (r.body for r in fake_server.requests)
    assert first == again and isinstance(numpy_seeded["seed"], int) and numpy_seeded["seed"] != 5


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, True, "3"])
def test_a_seed_that_is_not_a_64_bit_integer_is_refused(make_user: MakeUser, mmrole_sample: Sample,
                                                        seed: Any) -> None:
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*63 - 1\]"):
        make_user().next_turn(mmrole_sample, "r", seed=seed)


def test_a_task_without_user_prompt_names_the_fix(
    make_user: MakeUser, fake_server: FakeChatServer, mmrole_sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lam_envs.tasks import TASK_REGISTRY

    monkeypatch.setitem(TASK_REGISTRY, "mmrole", replace(TASK_REGISTRY["mmrole"], user_prompt=None))
    with pytest.raises(ValueError, match="no simulated user.*add user_prompt="):
        make_user().next_turn(mmrole_sample, "r", seed=0)
    assert fake_server.requests == []


# ------------------------------------------------------------------------------------------------- failures
def test_a_failing_server_raises_after_the_configured_retries(
    make_user: MakeUser, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.responder = lambda body: error(503)
    user = make_user(max_retries=3)
    with pytest.raises(UserSimulatorError, match=r"sample 'mm-1' \(server_error\).*HTTP 503.*gave up after 4 tries"
                       r".*fix: .*max_retries") as info:
        user.next_turn(mmrole_sample, "r", seed=0)
    assert info.value.cause == "server_error" and len(fake_server.requests) == 4
    assert user.stats.snapshot() == {"pairs": 1, "calls": 4, "retries": 3, "failures": 1, "retries/server_error": 3,
                                     "failures/server_error": 1}


def test_a_transient_error_is_retried_with_the_same_seed(
    make_user: MakeUser, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.push(error(500), reply("And then?"))
    assert make_user().next_turn(mmrole_sample, "r", seed=42) == "And then?"
    assert [r.body["seed"] for r in fake_server.requests] == [42, 42]


@pytest.mark.parametrize(
    ("action", "cause", "message"),
    [
        (error(404), "http_error", "HTTP 404.*base_url should end with the API version"),
        (Action(content=" \n "), "bad_response", "empty answer"),
        (Action(body="<html>not a chat completion</html>"), "bad_response", "did not return a chat completion"),
        (reply("So " * 400), "over_long", "1199 characters, more than max_chars=800.*fix: raise max_chars"),
        (reply("x", delay_s=0.5), "timeout", "deadline_s=0.2.*fix: raise deadline_s"),
    ],
    ids=["not_found", "empty", "not_a_completion", "over_long", "deadline"],
)
def test_unusable_answers_raise_naming_the_cause_and_the_fix(
    make_user: MakeUser, fake_server: FakeChatServer, mmrole_sample: Sample, action: Action, cause: str, message: str
) -> None:
    fake_server.responder = lambda body: action
    user = make_user(max_retries=0, deadline_s=0.2)
    with pytest.raises(UserSimulatorError, match=message) as info:
        user.next_turn(mmrole_sample, "r", seed=0)
    assert info.value.cause == cause and user.stats.failures[cause] == 1


def test_an_unreadable_image_fails_without_a_request(
    make_user: MakeUser, fake_server: FakeChatServer, pcogalign_sample: Sample, tmp_path: Path
) -> None:
    missing = replace(pcogalign_sample, image=ImageFile(tmp_path / "gone.png"))
    with pytest.raises(UserSimulatorError, match=r"\(image\).*gone.png.*send_image=False") as info:
        make_user().next_turn(missing, "r", seed=0)
    assert info.value.cause == "image" and fake_server.requests == []


# ---------------------------------------------------------------------------------------------------- secrets
def _echo(status: int) -> Action:
    return Action(status=status, body=json.dumps({"error": {"message": f"you sent Authorization: {ECHO_AUTH}"}}))


@pytest.mark.parametrize(
    "actions",
    [[_echo(401)], [_echo(500)] * 3, [reply(f"{ECHO_AUTH} " * 120)], [Action(body=f"<p>{ECHO_AUTH}</p>")]],
    ids=["client_error", "server_error_retried", "over_long_echo", "broken_body"],
)
def test_the_key_never_appears_in_errors_logs_records_or_reprs(
    make_user: MakeUser, fake_server: FakeChatServer, mmrole_sample: Sample, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, actions: list[Action],
) -> None:
    monkeypatch.setenv(ENV, KEY)
    fake_server.push(*actions)
    user = make_user(api_key_env=ENV)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UserSimulatorError) as info:
        user.next_turn(mmrole_sample, "r", seed=0)
    assert fake_server.requests[0].headers["Authorization"] == f"Bearer {KEY}"  # the server did get it
    assert "***" in str(info.value) + caplog.text  # the echo was there, scrubbed
    assert_no_key(str(info.value) + repr(info.value) + caplog.text + repr(user) + json.dumps(user.config.to_record()))


def test_an_answer_that_echoes_the_key_comes_back_scrubbed(
    make_user: MakeUser, fake_server: FakeChatServer, mmrole_sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    fake_server.push(reply(f"Is this your key {ECHO_AUTH}?"))
    assert make_user(api_key_env=ENV).next_turn(mmrole_sample, "r", seed=0) == "Is this your key Bearer ***?"


def test_the_key_is_read_when_built_and_survives_pickling(
    make_user: MakeUser, fake_server: FakeChatServer, mmrole_sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    user = make_user(api_key_env=ENV)
    monkeypatch.delenv(ENV)
    clone = pickle.loads(pickle.dumps(user))  # an env (and its vector workers) is pickled with its simulator
    user.next_turn(mmrole_sample, "r", seed=0)
    clone.next_turn(mmrole_sample, "r", seed=0)
    assert [r.headers["Authorization"] for r in fake_server.requests] == [f"Bearer {KEY}"] * 2
    assert clone.stats.calls == 1


def test_no_key_env_sends_no_key_and_an_unset_one_names_the_variable(
    make_user: MakeUser, fake_server: FakeChatServer, mmrole_sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")  # never read
    make_user().next_turn(mmrole_sample, "r", seed=0)
    assert "Authorization" not in fake_server.requests[0].headers
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(ValueError, match=f"api_key_env='{ENV}'.*not set.*export {ENV}="):
        make_user(api_key_env=ENV)


# ----------------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"base_url": "localhost:8000/v1"}, "base_url must be an http"),
        ({"base_url": "http://h/v1/chat/completions"}, "base_url should stop before '/chat/completions'"),
        ({"model": " "}, "model must name the user model"),
        ({"api_key_env": KEY}, "api_key_env must be the name of an environment variable.*not the key itself"),
        ({"api_key_env": 3}, "api_key_env must be the name"),
        ({"timeout_s": 0}, "timeout_s must be > 0"),
        ({"deadline_s": float("inf")}, "deadline_s must be > 0 seconds \\(and finite\\)"),
        ({"deadline_s": "60"}, "deadline_s must be a number, got a str"),
        ({"backoff_base_s": -1.0}, "backoff_base_s must be >= 0"),
        ({"backoff_base_s": 2.0, "backoff_max_s": 1.0}, "backoff_max_s \\(1.0\\) must be >= backoff_base_s"),
        ({"retry_after_max_s": -5}, "retry_after_max_s must be >= 0"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
        ({"max_tokens": 0}, "max_tokens must be an integer >= 1"),
        ({"max_chars": 1.5}, "max_chars must be an integer >= 1"),
        ({"temperature": 2.5}, "temperature must be in \\[0, 2\\]"),
        ({"send_image": "yes"}, "send_image must be True or False"),
        ({"image_max_side": 2}, "image_max_side must be an integer >= 8 or None"),
        ({"image_format": "GIF"}, "image_format must be 'JPEG' or 'PNG'"),
    ],
)
def test_config_errors_name_the_field_and_never_the_key(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        UserSimulatorConfig(**{"base_url": "http://127.0.0.1:1/v1", "model": "m", **overrides})
    assert_no_key(str(info.value))


def test_record_round_trips_and_refuses_keys_and_typos() -> None:
    config = UserSimulatorConfig(base_url="http://127.0.0.1:1/v1", model="m", api_key_env=ENV, send_image=False,
                                 image_max_side=None, temperature=1.0)
    record = json.loads(json.dumps(config.to_record()))
    assert record["api_key_env"] == ENV and UserSimulatorConfig.from_record(record) == config
    with pytest.raises(ValueError, match="must not contain api_key.*api_key_env") as info:
        UserSimulatorConfig.from_record({**record, "api_key": KEY})
    assert_no_key(str(info.value))
    with pytest.raises(ValueError, match="'max_char' \\(did you mean 'max_chars'\\?\\)"):
        UserSimulatorConfig.from_record({**record, "max_char": 10})
    with pytest.raises(ValueError, match="need base_url"):
        UserSimulatorConfig.from_record({"model": "m"})
    with pytest.raises(ValueError, match="object of UserSimulatorConfig fields, got a list"):
        UserSimulatorConfig.from_record(["http://h/v1", "m"])  # type: ignore[arg-type]
