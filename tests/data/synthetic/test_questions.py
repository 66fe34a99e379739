from __future__ import annotations

import numpy as np
import pytest

from lam_envs.data.scenes import Scene, SceneObject, random_scene
from lam_envs.data.synthetic.questions import (
    QUESTION_KINDS,
    Question,
    answer_words,
    content_words,
    parse_question,
    question_text,
    random_question,
)


@pytest.fixture
def scene() -> Scene:
    return Scene(
        "beach",
        (
            SceneObject("circle", "red", "small", 0, 0),
            SceneObject("circle", "red", "small", 2, 2),
            SceneObject("square", "blue", "large", 1, 1),
        ),
    )


def test_round_trip_on_thousands_of_generated_questions() -> None:
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(3000):
        s = random_scene(rng)
        q = random_question(s, rng)
        text = question_text(q, s, rng)
        assert parse_question(text) == q, text
        seen.add(q.kind)
    assert seen == set(QUESTION_KINDS)


def test_parse_reads_the_last_question_and_ignores_comments() -> None:
    assert parse_question("I love the red circles. What colour is the square?") == Question("color", None, "square")
    assert parse_question("Where is the blue square? Wait, how many circles are there?") == Question(
        "count", None, "circle"
    )
    assert parse_question("Where was this taken?") == Question("place")
    assert parse_question("Just a nice day out.") == Question("describe")
    assert parse_question("Tell me a joke?") == Question("describe")


def test_answer_words(scene: Scene) -> None:
    assert answer_words(Question("count", "red", "circle"), scene) == {"two"}
    assert answer_words(Question("count"), scene) == {"three"}
    assert answer_words(Question("count", "green", None), scene) == {"zero"}
    assert answer_words(Question("color", None, "square"), scene) == {"blue"}
    assert answer_words(Question("shape", "red", None), scene) == {"circle"}
    assert answer_words(Question("position", "blue", "square"), scene) == {"centre"}
    assert answer_words(Question("position", "red", "circle"), scene) == {"top", "left", "bottom", "right"}
    assert answer_words(Question("place"), scene) == {"beach"}
    assert answer_words(Question("describe"), scene) == {"beach", "red", "circle", "blue", "square"}


def test_content_words_normalise_plurals_and_spelling() -> None:
    assert content_words("Two Red Circles, near the center! Color: crosses.") == [
        "two", "red", "circle", "near", "the", "centre", "colour", "cross",
    ]


def test_question_text_rejects_missing_targets(scene: Scene) -> None:
    with pytest.raises(ValueError, match="needs the shape"):
        question_text(Question("color"), scene, np.random.default_rng(0))
