from __future__ import annotations

from lam_envs.data.scenes import Scene, SceneObject
from lam_envs.rewards.rules.facts import FactCheck, extract_mentions
from lam_envs.rewards.rules.text import TextStats

SCENE = Scene(
    "park",
    (
        SceneObject("circle", "red", "small", 0, 0),
        SceneObject("circle", "red", "small", 0, 2),
        SceneObject("star", "blue", "large", 1, 1),
    ),
)


def _check(text: str) -> FactCheck:
    return FactCheck.of(extract_mentions(TextStats(text), SCENE))


def test_true_claims_are_read_as_true() -> None:
    fc = _check("I see two small red circles at the top left and a large blue star in the centre, here in the park.")
    assert fc.n_false == 0
    assert ("count", 2, "red", "circle") in fc.true_keys
    assert ("pair", "blue", "star") in fc.true_keys
    assert ("place", "park") in fc.true_keys
    assert ("position", 0, 0) in fc.true_keys


def test_false_claims_are_caught() -> None:
    fc = _check("There are three red circles and a green square at the bottom right, on the beach.")
    assert {("count", 3, "red", "circle"), ("pair", "green", "square"), ("place", "beach")} <= fc.false_keys
    assert ("position", 2, 2) in fc.false_keys
    assert fc.precision == 0.0


def test_listing_everything_has_low_precision() -> None:
    fc = _check("I see red, orange, yellow, green, blue, purple, pink, black and white circles, squares and stars.")
    assert fc.precision < 0.4


def test_figurative_size_is_not_a_claim() -> None:
    assert _check("That is a small point of reference.").n_false == 0
