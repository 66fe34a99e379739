from __future__ import annotations

import json

import pytest

from lam_envs.rewards.llm.parsing import ParseError, parse_pair_scores, parse_rubric_scores

DIMS = ("fluency", "image_text_relevance", "tone_consistency")


def _answer(a: object = 7, b: object = 5, **extra: object) -> str:
    return json.dumps({"A": {d: a for d in DIMS}, "B": {d: b for d in DIMS}, **extra})


def test_plain_json() -> None:
    scores = parse_pair_scores(_answer(7, 5.5, analysis="A is better"), DIMS)
    assert scores.a == {d: 7.0 for d in DIMS} and scores.b == {d: 5.5 for d in DIMS}


def test_fenced_json_wins_over_braces_in_prose() -> None:
    text = "I weigh {tone} and {fluency} first.\n```json\n" + _answer(9, 2) + "\n```\nDone."
    assert parse_pair_scores(text, DIMS).b["fluency"] == 2.0


def test_first_object_without_score_blocks_is_skipped() -> None:
    text = 'Criteria: {"weights": [1, 2]} and the scores: ' + _answer(6, 4)
    assert parse_pair_scores(text, DIMS).a["tone_consistency"] == 6.0


def test_keys_match_case_spaces_and_hyphens() -> None:
    block = {"Fluency": 8, "Image-Text Relevance": 7, "TONE CONSISTENCY": 6}
    scores = parse_pair_scores(json.dumps({"Response A": block, "response_b": block}), DIMS)
    assert scores.a == {"fluency": 8.0, "image_text_relevance": 7.0, "tone_consistency": 6.0}


@pytest.mark.parametrize(
    ("text", "cause", "message"),
    [
        ("no json at all", "malformed_json", "no JSON object"),
        ('{"A": {"fluency": 7,', "malformed_json", "no JSON object"),
        (json.dumps({"A": {d: 7 for d in DIMS}}), "missing_dimension", "no score block for Response B"),
        (json.dumps({"A": {d: 7 for d in DIMS}, "B": [7, 7, 7]}), "missing_dimension", "not a JSON object"),
        (json.dumps({"A": {d: 7 for d in DIMS[:2]}, "B": {d: 7 for d in DIMS}}), "missing_dimension",
         "Response A has no score for 'tone_consistency'"),
        (_answer(7, "8"), "missing_dimension", "not a number: '8'"),
        (_answer(7, True), "missing_dimension", "not a number: True"),
        (_answer(7, None), "missing_dimension", "not a number: None"),
        (_answer(7, float("nan")), "missing_dimension", "not a number: nan"),
        (_answer(7, 10.5), "out_of_range", "is 10.5, outside 1-10"),
        (_answer(0, 7), "out_of_range", "Response A score for 'fluency' is 0"),
        (json.dumps({"A": {"fluency": 7, "Fluency": 8}, "B": {}}), "malformed_json", "scores 'fluency' twice"),
        (json.dumps({"A": {}, "a": {}, "B": {}}), "malformed_json", "2 score blocks for Response A"),
    ],
)
def test_unusable_answers_raise_with_a_cause(text: str, cause: str, message: str) -> None:
    with pytest.raises(ParseError, match=message) as info:
        parse_pair_scores(text, DIMS)
    assert info.value.cause == cause


def test_boundaries_are_accepted() -> None:
    scores = parse_pair_scores(_answer(1, 10), DIMS)
    assert set(scores.a.values()) == {1.0} and set(scores.b.values()) == {10.0}


def test_rubric_scores_are_read_from_the_scores_block() -> None:
    text = "My verdict:\n```json\n" + json.dumps({"analysis": "ok", "Scores": {"Fluency": 9, "image-text relevance": 4,
                                                                       "tone_consistency": 10}}) + "\n```"
    assert parse_rubric_scores(text, DIMS) == {"fluency": 9.0, "image_text_relevance": 4.0, "tone_consistency": 10.0}


@pytest.mark.parametrize(
    ("text", "cause", "message"),
    [
        (_answer(7, 5), "malformed_json", 'no JSON object with a "scores" block'),  # a pairwise answer
        (json.dumps({"scores": {d: 7 for d in DIMS[1:]}}), "missing_dimension", "the response has no score for"),
        (json.dumps({"scores": {d: 11 for d in DIMS}}), "out_of_range", "the response score for 'fluency' is 11"),
        (json.dumps({"scores": [7, 7, 7]}), "missing_dimension", "score block for the response is not a JSON object"),
    ],
)
def test_unusable_rubric_answers_raise_with_a_cause(text: str, cause: str, message: str) -> None:
    with pytest.raises(ParseError, match=message) as info:
        parse_rubric_scores(text, DIMS)
    assert info.value.cause == cause
