"""LLMJudge against the loopback fake server: answers, failures, retries, concurrency and the prompt it sends."""

from __future__ import annotations

import base64
import io
import json
import math
import pickle
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest
from fake_server import ALL_DIMENSIONS, Action, FakeChatServer, error, reply, scores_json
from PIL import Image

from lam_envs.data.types import ImageFile, Sample
from lam_envs.rewards.base import MMROLE_DIMENSIONS, PCOGALIGN_DIMENSIONS, JudgeError, Reward
from lam_envs.rewards.llm import LLMJudge, LLMJudgeConfig

MakeJudge = Callable[..., LLMJudge]


def test_is_a_reward_with_the_task_dimensions(make_judge: MakeJudge) -> None:
    mm, pc = make_judge("mmrole"), make_judge("pcogalign")
    assert isinstance(mm, Reward) and isinstance(pc, Reward)
    assert mm.dimensions == MMROLE_DIMENSIONS and pc.dimensions == PCOGALIGN_DIMENSIONS


def test_good_answer_gives_candidate_b_and_reference_a(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    a = {d: 8 for d in MMROLE_DIMENSIONS}
    b = {d: 4 + i % 3 for i, d in enumerate(MMROLE_DIMENSIONS)}
    fake_server.push(reply(scores_json(a, b, MMROLE_DIMENSIONS)))
    judge = make_judge()
    [result] = judge.score([mmrole_sample], ["A red ball, I think."])
    assert not result.failed
    assert result.reference == {d: 8.0 for d in MMROLE_DIMENSIONS}
    assert result.candidate == {d: float(v) for d, v in b.items()}
    assert result.ratio == pytest.approx(sum(b.values()) / 64)
    assert judge.stats.snapshot() == {"pairs": 1, "calls": 1, "retries": 0, "failures": 0}


@pytest.mark.parametrize(
    "answer",
    [
        "```json\n" + scores_json(9, 3) + "\n```",
        "Here is my evaluation.\n" + scores_json(9, 3) + "\nResponse A is clearly better.",
        "Thinking: {not json} then ```\n" + scores_json(9, 3) + "```",
    ],
    ids=["code_fence", "prose_around", "fence_after_junk"],
)
def test_answers_wrapped_in_fences_or_prose_are_read(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample, answer: str
) -> None:
    fake_server.push(reply(answer))
    [result] = make_judge().score([mmrole_sample], ["x"])
    assert result.ratio == pytest.approx(3 / 9)


def test_malformed_answer_is_re_asked_with_the_reason(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.push(reply("Both responses are fine, I would give them 8 and 6."), reply(scores_json(8, 8)))
    judge = make_judge(max_parse_retries=1)
    [result] = judge.score([mmrole_sample], ["x"])
    assert result.ratio == pytest.approx(1.0)
    assert judge.stats.snapshot()["retries/malformed_json"] == 1
    first, second = fake_server.requests
    assert len(first.body["messages"]) == 2
    assistant, correction = second.body["messages"][2:]
    assert assistant == {"role": "assistant", "content": "Both responses are fine, I would give them 8 and 6."}
    assert "could not be used" in correction["content"] and "no JSON object" in correction["content"]
    assert second.image_urls() == first.image_urls()  # the context (image included) is sent again


@pytest.mark.parametrize(
    ("answer", "cause"),
    [
        ("I refuse to answer in JSON.", "malformed_json"),
        ('{"A": {"fluency": 8', "malformed_json"),
        (scores_json(8, 6, drop="tone_consistency"), "missing_dimension"),
        (scores_json(8, {d: 11 for d in ALL_DIMENSIONS}), "out_of_range"),
        (scores_json(8, {d: 0 for d in ALL_DIMENSIONS}), "out_of_range"),
    ],
    ids=["prose_only", "truncated", "missing_dimension", "above_10", "below_1"],
)
def test_unusable_answer_is_flagged_never_guessed(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample, answer: str, cause: str
) -> None:
    fake_server.responder = lambda body: reply(answer)
    judge = make_judge(max_parse_retries=2)
    [result] = judge.score([mmrole_sample], ["x"])
    assert result.failed and math.isnan(result.ratio) and result.candidate == {}
    assert result.error is not None and result.error.startswith(cause)
    stats = judge.stats.snapshot()
    assert stats["calls"] == 3 and stats[f"retries/{cause}"] == 2 and stats[f"failures/{cause}"] == 1


def test_missing_dimension_raises_naming_sample_and_cause(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.responder = lambda body: reply(scores_json(8, 6, drop="fluency"))
    judge = make_judge(on_failure="raise", max_parse_retries=0)
    with pytest.raises(JudgeError, match=r"sample 'mm-1' \(missing_dimension\).*'fluency'"):
        judge.score([mmrole_sample], ["x"])
    assert judge.stats.failures["missing_dimension"] == 1


def test_server_error_then_success_is_retried(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.push(error(500), error(503), reply(scores_json(5, 5)))
    judge = make_judge(max_retries=2)
    [result] = judge.score([mmrole_sample], ["x"])
    assert result.ratio == pytest.approx(1.0)
    assert judge.stats.snapshot() == {"pairs": 1, "calls": 3, "retries": 2, "retries/server_error": 2, "failures": 0}


def test_persistent_server_error_fails_after_max_retries(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.responder = lambda body: error(502)
    judge = make_judge(max_retries=3, on_failure="raise")
    with pytest.raises(JudgeError, match=r"sample 'mm-1' \(server_error\).*HTTP 502.*gave up after 4 tries"):
        judge.score([mmrole_sample], ["x"])
    assert len(fake_server.requests) == 4


def test_rate_limit_waits_for_retry_after(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.push(error(429, {"Retry-After": "0.25"}), reply(scores_json(5, 5)))
    judge = make_judge(backoff_base_s=0.001, backoff_max_s=0.001)
    [result] = judge.score([mmrole_sample], ["x"])
    assert not result.failed
    first, second = fake_server.requests
    assert second.started - first.started >= 0.24  # backoff alone would wait ~1 ms
    assert judge.stats.retries["rate_limited"] == 1


def test_retry_after_beyond_the_limit_fails_without_waiting(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.push(error(429, {"Retry-After": "3600"}))
    judge = make_judge(retry_after_max_s=5.0)
    start = time.monotonic()
    [result] = judge.score([mmrole_sample], ["x"])
    assert time.monotonic() - start < 1.0
    assert result.error is not None and result.error.startswith("rate_limited") and "retry_after_max_s" in result.error
    assert len(fake_server.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_client_errors_other_than_429_are_not_retried(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample, status: int
) -> None:
    fake_server.responder = lambda body: error(status)
    judge = make_judge(max_retries=3)
    [result] = judge.score([mmrole_sample], ["x"])
    assert result.error is not None and result.error.startswith("http_error") and f"HTTP {status}" in result.error
    assert len(fake_server.requests) == 1 and judge.stats.retries == {}


def test_slow_answer_times_out_and_is_retried(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.push(reply(scores_json(), delay_s=0.5), reply(scores_json(), delay_s=0.5))
    judge = make_judge(timeout_s=0.1, max_retries=1, on_failure="raise")
    start = time.monotonic()
    with pytest.raises(JudgeError, match=r"sample 'mm-1' \(timeout\).*within 0.1 s"):
        judge.score([mmrole_sample], ["x"])
    assert time.monotonic() - start < 0.45  # gave up on each try at the timeout, not when the server answered
    assert judge.stats.snapshot()["retries/timeout"] == 1 and len(fake_server.requests) == 2


def test_connection_refused(mmrole_sample: Sample) -> None:
    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = LLMJudgeConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=1, backoff_base_s=0.001,
                            backoff_max_s=0.001, on_failure="raise")
    judge = LLMJudge("mmrole", config)
    with pytest.raises(JudgeError, match=r"sample 'mm-1' \(connection\).*cannot reach"):
        judge.score([mmrole_sample], ["x"])
    assert judge.stats.snapshot()["calls"] == 2


def test_a_failed_pair_does_not_touch_the_others(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.responder = lambda body: error(400) if "BROKEN" in _user_text(body) else reply(scores_json(10, 5))
    samples = [replace(mmrole_sample, id=f"mm-{i}") for i in range(4)]
    results = make_judge().score(samples, ["ok", "BROKEN", "ok", "ok"])
    assert [r.failed for r in results] == [False, True, False, False]
    assert [r.ratio for r in results if not r.failed] == [0.5, 0.5, 0.5]


def test_results_keep_input_order_under_concurrency(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    def respond(body: dict[str, Any]) -> Any:
        k = int(re.search(r"candidate-(\d+)", _user_text(body)).group(1))  # type: ignore[union-attr]
        # Later pairs answer sooner, so completion order is the reverse of input order.
        return reply(scores_json(10, 1 + k), delay_s=0.02 * (8 - k))

    fake_server.responder = respond
    results = make_judge(concurrency=8).score([mmrole_sample] * 8, [f"candidate-{k}" for k in range(8)])
    assert [r.ratio for r in results] == pytest.approx([(1 + k) / 10 for k in range(8)])


@pytest.mark.parametrize("concurrency", [1, 3])
def test_concurrency_overlaps_requests(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample, concurrency: int
) -> None:
    fake_server.responder = lambda body: reply(scores_json(), delay_s=0.1)
    start = time.monotonic()
    results = make_judge(concurrency=concurrency).score([mmrole_sample] * 6, ["x"] * 6)
    elapsed = time.monotonic() - start
    assert not any(r.failed for r in results)
    assert fake_server.max_in_flight == concurrency
    if concurrency > 1:
        assert elapsed < 6 * 0.1 * 0.75  # 2 rounds of 3 overlapping requests, not 6 in a row


def test_mmrole_prompt_has_the_context_reference_candidate_and_image(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    make_judge(image_format="PNG", temperature=0.3, max_tokens=300).score([mmrole_sample], ["A big red buoy."])
    [request] = fake_server.requests
    assert request.path == "/v1/chat/completions"
    body = request.body
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("fake-judge", 0.3, 300)
    text = request.user_text()
    for expected in ("Captain Brine", "gruff but kind", "Steady as she goes!", "nosy neighbour",
                     "Aye, the sea is calm today.", "What is that red thing in the middle?",
                     "## Response A (Captain Brine)\nA red buoy, lad.",
                     "## Response B (Captain Brine)\nA big red buoy."):
        assert expected in text, expected
    for dim in MMROLE_DIMENSIONS:
        assert dim in body["messages"][0]["content"]
    [url] = request.image_urls()
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    assert decoded.tobytes() == mmrole_sample.image.load().tobytes()


def test_pcogalign_prompt_makes_the_judge_play_the_user(
    make_judge: MakeJudge, fake_server: FakeChatServer, pcogalign_sample: Sample
) -> None:
    [result] = make_judge("pcogalign", image_format="PNG").score([pcogalign_sample], ["Call someone."])
    assert not result.failed and set(result.candidate) == set(PCOGALIGN_DIMENSIONS)
    [request] = fake_server.requests
    system = request.body["messages"][0]["content"]
    assert "role-play" in system and all(dim in system for dim in PCOGALIGN_DIMENSIONS)
    text = request.user_text()
    for expected in ("parent at home", "volunteer gardener at park", "You are now at: park", "fallen branch",
                     "practical steps I can take", "What should I do here?",
                     "## Response A\nMove the branch", "## Response B\nCall someone."):
        assert expected in text, expected
    [url] = request.image_urls()
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    assert decoded.size == (16, 12) and decoded.getpixel((3, 4)) == (250, 0, 250)


def test_api_key_is_sent_only_when_given_and_environment_is_ignored(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would break the request if urllib used it
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    make_judge().score([mmrole_sample], ["x"])
    make_judge(api_key="sk-test").score([mmrole_sample], ["x"])
    without, with_key = fake_server.requests
    assert "Authorization" not in without.headers
    assert with_key.headers["Authorization"] == "Bearer sk-test"
    assert "sk-test" not in repr(make_judge(api_key="sk-test"))


def test_image_is_encoded_once_per_sample_per_batch(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    class CountingImage:
        loads = 0

        def load(self) -> Image.Image:
            CountingImage.loads += 1
            return Image.new("RGB", (8, 8), (1, 2, 3))

    sample = replace(mmrole_sample, image=CountingImage())
    make_judge().score([sample] * 8, ["x"] * 8)
    assert CountingImage.loads == 1 and len(fake_server.requests) == 8


def test_unreadable_image_fails_that_pair_without_a_request(
    make_judge: MakeJudge, fake_server: FakeChatServer, pcogalign_sample: Sample, tmp_path: Path
) -> None:
    missing = replace(pcogalign_sample, id="pc-missing", image=ImageFile(tmp_path / "nope.png"))
    results = make_judge("pcogalign").score([missing, pcogalign_sample], ["x", "y"])
    assert results[0].error is not None and results[0].error.startswith("image") and "nope.png" in results[0].error
    assert not results[1].failed and len(fake_server.requests) == 1


def test_bad_batches_are_rejected(make_judge: MakeJudge, mmrole_sample: Sample, pcogalign_sample: Sample) -> None:
    judge = make_judge("mmrole")
    with pytest.raises(ValueError, match="1 samples but 2 replies"):
        judge.score([mmrole_sample], ["a", "b"])
    with pytest.raises(ValueError, match="'pc-1' is a 'pcogalign' sample"):
        judge.score([pcogalign_sample], ["a"])
    assert judge.score([], []) == []


def test_judge_survives_pickling(make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample) -> None:
    judge = make_judge(api_key="sk-test")
    judge.score([mmrole_sample], ["x"])
    clone = pickle.loads(pickle.dumps(judge))
    [result] = clone.score([mmrole_sample], ["x"])
    assert not result.failed and clone.stats.calls == 2
    assert fake_server.requests[-1].headers["Authorization"] == "Bearer sk-test"


def _user_text(body: dict[str, Any]) -> str:
    return "\n".join(p["text"] for p in body["messages"][1]["content"] if p["type"] == "text")


def test_raise_mode_stops_sending_once_a_pair_failed(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.push(error(400))
    judge = make_judge(concurrency=1, on_failure="raise")
    with pytest.raises(JudgeError, match=r"sample 'mm-0' \(http_error\)"):
        judge.score([replace(mmrole_sample, id=f"mm-{i}") for i in range(6)], ["x"] * 6)
    assert len(fake_server.requests) == 1
    assert judge.stats.snapshot()["failures/http_error"] == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"base_url": "localhost:8000/v1"}, "base_url must be an http"),
        ({"base_url": "http://h/v1/chat/completions"}, "stop before '/chat/completions'"),
        ({"model": " "}, "model must name"),
        ({"timeout_s": 0}, "timeout_s must be > 0"),
        ({"backoff_base_s": 2.0, "backoff_max_s": 1.0}, "backoff_max_s \\(1.0\\) must be >= backoff_base_s"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
        ({"concurrency": 0}, "concurrency must be an integer >= 1"),
        ({"max_tokens": 1.5}, "max_tokens must be an integer"),
        ({"temperature": 3.0}, "temperature must be in"),
        ({"on_failure": "mean"}, "on_failure must be 'raise' or 'flag', got 'mean'"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"image_max_side": 2}, "image_max_side must be"),
        ({"image_format": "GIF"}, "image_format must be"),
    ],
)
def test_config_rejects_bad_values(overrides: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"base_url": "http://127.0.0.1:1/v1", "model": "m", **overrides}
    with pytest.raises(ValueError, match=message):
        LLMJudgeConfig(**settings)


def test_unknown_task_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown task 'chess'"):
        LLMJudge("chess", LLMJudgeConfig(base_url="http://127.0.0.1:1/v1", model="m"))  # type: ignore[arg-type]


def test_deadline_of_the_config_bounds_a_dripping_server(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.responder = lambda body: Action(content=scores_json(), drip_s=0.02)
    judge = make_judge(timeout_s=1.0, deadline_s=0.3, max_retries=3)
    start = time.monotonic()
    [result] = judge.score([mmrole_sample], ["x"])
    assert result.error is not None and result.error.startswith("timeout") and "deadline_s=0.3" in result.error
    assert time.monotonic() - start < 1.5 and len(fake_server.requests) == 1


# ------------------------------------------------------------------------ turns without a reference: the rubric
def rubric_json(scores: float | dict[str, float], dims: tuple[str, ...] = MMROLE_DIMENSIONS) -> str:
    """A rubric judge answer: one ``"scores"`` block (one score for every dimension, or a per-dimension dict)."""
    block = {d: (scores[d] if isinstance(scores, dict) else scores) for d in dims}
    return json.dumps({"analysis": "A fair follow-up answer.", "scores": block})


def test_a_turn_without_reference_is_scored_on_the_rubric_without_any_reference(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    simulated = replace(mmrole_sample, id="mm-1#1", reference="")
    scores = {d: 3 + i for i, d in enumerate(MMROLE_DIMENSIONS)}  # 3..10
    fake_server.push(reply(rubric_json(scores)))
    judge = make_judge()
    [result] = judge.score([simulated], ["A big red buoy."])
    [request] = fake_server.requests
    system, text = request.body["messages"][0]["content"], request.user_text()
    assert "Response A" not in text and "Response B" not in text and mmrole_sample.reference not in text
    assert "## Response (Captain Brine)\nA big red buoy." in text and "What is that red thing in the middle?" in text
    assert '"scores"' in system and '"A"' not in system and "no reference" in system
    assert all(dim in system for dim in MMROLE_DIMENSIONS) and request.image_urls()
    # The documented verdict: the reference is the scale's maximum, so the ratio is the score sum over 10 x 8.
    assert result.candidate == {d: float(v) for d, v in scores.items()}
    assert result.reference == {d: 10.0 for d in MMROLE_DIMENSIONS}
    assert result.ratio == pytest.approx(sum(scores.values()) / 80)
    assert result.dimension_ratios == pytest.approx({d: v / 10 for d, v in scores.items()})
    assert judge.stats.snapshot() == {"pairs": 1, "calls": 1, "retries": 0, "failures": 0}


def test_pcogalign_rubric_judge_plays_the_user_and_a_batch_mixes_both_protocols(
    make_judge: MakeJudge, fake_server: FakeChatServer, pcogalign_sample: Sample
) -> None:
    def respond(body: dict[str, Any]) -> Action:
        pairwise = "## Response A" in _user_text(body)
        return reply(scores_json(8, 4, PCOGALIGN_DIMENSIONS) if pairwise else rubric_json(6, PCOGALIGN_DIMENSIONS))

    fake_server.responder = respond
    simulated = replace(pcogalign_sample, id="pc-1#1", reference="")
    with_ref, without = make_judge("pcogalign").score([pcogalign_sample, simulated], ["Call someone.", "Lift it."])
    assert with_ref.ratio == pytest.approx(0.5) and with_ref.reference == {d: 8.0 for d in PCOGALIGN_DIMENSIONS}
    assert without.ratio == pytest.approx(30 / 50) and without.reference == {d: 10.0 for d in PCOGALIGN_DIMENSIONS}
    rubric_request = next(r for r in fake_server.requests if "## Response A" not in r.user_text())
    text = rubric_request.user_text()
    assert "role-play" in rubric_request.body["messages"][0]["content"]
    for expected in ("volunteer gardener at park", "fallen branch", "## Your latest message\nWhat should I do here?",
                     "## The assistant's answer\nLift it."):
        assert expected in text, expected
    assert pcogalign_sample.reference not in text


def test_an_unusable_rubric_answer_is_re_asked_for_the_scores_block(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    fake_server.push(reply(scores_json(8, 6, MMROLE_DIMENSIONS)), reply(rubric_json(5)))  # a pair answer is unusable
    judge = make_judge(max_parse_retries=1)
    [result] = judge.score([replace(mmrole_sample, reference="")], ["x"])
    assert result.ratio == pytest.approx(0.5)
    correction = fake_server.requests[1].body["messages"][-1]["content"]
    assert 'no JSON object with a "scores" block' in correction and 'in the "scores" object' in correction
    assert judge.stats.snapshot()["retries/malformed_json"] == 1


def test_a_rubric_answer_missing_a_dimension_is_flagged_not_guessed(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample
) -> None:
    partial = json.dumps({"scores": {d: 7 for d in MMROLE_DIMENSIONS[1:]}})
    fake_server.responder = lambda body: reply(partial)
    [result] = make_judge(max_parse_retries=0).score([replace(mmrole_sample, reference="")], ["x"])
    assert result.failed and math.isnan(result.ratio)
    assert result.error is not None and "the response has no score for 'instruction_adherence'" in result.error


def test_a_task_without_a_rubric_prompt_refuses_a_turn_without_reference_before_any_request(
    make_judge: MakeJudge, fake_server: FakeChatServer, mmrole_sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lam_envs.tasks import TASK_REGISTRY

    monkeypatch.setitem(TASK_REGISTRY, "mmrole", replace(TASK_REGISTRY["mmrole"], rubric_prompt=None))
    judge = make_judge()
    with pytest.raises(ValueError, match=r"'mm-1#1' has no reference.*add rubric_prompt="):
        judge.score([mmrole_sample, replace(mmrole_sample, id="mm-1#1", reference="")], ["x", "y"])
    assert fake_server.requests == []
