from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from fake_server import FakeChatServer
from PIL import Image

from lam_envs.data.scenes import Scene, SceneObject
from lam_envs.data.types import CharacterProfile, ImageFile, Sample, Split, Turn, UserProfile
from lam_envs.rewards.llm import LLMJudge, LLMJudgeConfig


@pytest.fixture
def fake_server() -> Iterator[FakeChatServer]:
    server = FakeChatServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mmrole_sample() -> Sample:
    persona = CharacterProfile(
        name="Captain Brine",
        introduction="A retired sea captain who runs a lighthouse.",
        personality="gruff but kind, fond of storms",
        experience="forty years sailing the northern seas",
        relationship="the human is his nosy neighbour",
        catchphrase="Steady as she goes!",
    )
    scene = Scene(background="beach", objects=(SceneObject("circle", "red", "large", 1, 1),))
    dialogue = (
        Turn("user", "Human", "What a view, captain."),
        Turn("assistant", "Captain Brine", "Aye, the sea is calm today."),
        Turn("user", "Human", "What is that red thing in the middle?"),
    )
    return Sample("mm-1", "mmrole", scene, dialogue, persona, "A red buoy, lad. Steady as she goes!", Split.RL,
                  scene)


@pytest.fixture
def pcogalign_sample(png_path: Path) -> Sample:
    persona = UserProfile(
        individual_id="ind-7",
        role_set=(("home", "parent"), ("park", "volunteer gardener")),
        location="park",
        situation="A fallen branch blocks the footpath next to a flower bed.",
        expectation="practical steps I can take right now as a volunteer",
    )
    return Sample("pc-1", "pcogalign", ImageFile(png_path), (Turn("user", "User", "What should I do here?"),),
                  persona, "Move the branch to the side and tell the park office.", Split.TEST_ID)


@pytest.fixture
def png_path(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.png"
    img = Image.new("RGB", (16, 12), (10, 200, 30))
    img.putpixel((3, 4), (250, 0, 250))
    img.save(path)
    return path


@pytest.fixture
def make_judge(fake_server: FakeChatServer) -> Callable[..., LLMJudge]:
    """A judge on the fake server with tiny timeouts and backoffs; keyword overrides go to the config."""

    def make(task: str = "mmrole", **overrides: Any) -> LLMJudge:
        settings: dict[str, Any] = dict(
            base_url=fake_server.base_url, model="fake-judge", timeout_s=2.0, max_retries=2, backoff_base_s=0.001,
            backoff_max_s=0.01, concurrency=4, on_failure="flag", seed=0, max_parse_retries=1,
        )
        settings.update(overrides)
        return LLMJudge(task, LLMJudgeConfig(**settings))

    return make
