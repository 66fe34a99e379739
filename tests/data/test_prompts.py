from __future__ import annotations

import numpy as np
import pytest

from lam_envs.data.prompts import sample_messages
from lam_envs.data.scenes import random_scene
from lam_envs.data.types import CharacterProfile, Sample, Split, Turn, UserProfile


def _scene():
    return random_scene(np.random.default_rng(0), background="park")


def _mmrole(n_exchanges: int) -> Sample:
    turns: list[Turn] = []
    for i in range(n_exchanges):
        turns += [Turn("user", "Human", f"question {i}"), Turn("assistant", "Ada", f"answer {i}")]
    turns.append(Turn("user", "Human", "last question"))
    profile = CharacterProfile("Ada", "An engineer.", "Precise.", "Built engines.", "Mentor.", "Numbers never lie!")
    scene = _scene()
    return Sample("m0", "mmrole", scene, tuple(turns), profile, "ref", Split.RL, scene)


def test_full_prompt_shows_the_whole_profile_and_dialogue() -> None:
    msgs = sample_messages(_mmrole(2), "full")
    assert msgs[0][0] == "system" and "Numbers never lie!" in msgs[0][1] and "Built engines." in msgs[0][1]
    assert [m[0] for m in msgs[1:]] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[-1] == ("user", "last question")


def test_compact_prompt_keeps_the_last_exchange_only() -> None:
    msgs = sample_messages(_mmrole(2), "compact")
    assert [m[1] for m in msgs[1:]] == ["question 1", "answer 1", "last question"]
    assert "Ada" in msgs[0][1]


def test_pcogalign_prompt_hides_the_judges_information() -> None:
    profile = UserProfile("u1", (("home", "parent"), ("park", "dog walker")), "park", "a park with dogs", "calm me")
    scene = _scene()
    sample = Sample("p0", "pcogalign", scene, (Turn("user", "User", "What now?"),), profile, "ref", Split.RL, scene)
    system = sample_messages(sample)[0][1]
    assert "home: parent" in system and "park: dog walker" in system
    assert "a park with dogs" not in system and "calm me" not in system


def test_unknown_style_is_rejected() -> None:
    with pytest.raises(ValueError, match="prompt style"):
        sample_messages(_mmrole(0), "verbose")  # type: ignore[arg-type]
