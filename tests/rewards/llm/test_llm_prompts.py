from __future__ import annotations

import base64
import io
from dataclasses import replace

import pytest
from PIL import Image

from lam_envs.data.types import Sample
from lam_envs.rewards.base import DIMENSIONS
from lam_envs.rewards.llm.prompts import (
    MMROLE_RUBRIC,
    PCOGALIGN_RUBRIC,
    build_messages,
    build_rubric_messages,
    build_user_messages,
    correction_messages,
    image_data_url,
)


@pytest.mark.parametrize(("task", "rubric"), [("mmrole", MMROLE_RUBRIC), ("pcogalign", PCOGALIGN_RUBRIC)])
def test_rubric_describes_exactly_the_reported_dimensions(task: str, rubric: dict[str, str]) -> None:
    assert tuple(rubric) == DIMENSIONS[task]
    assert all(len(text) > 40 for text in rubric.values())


def test_data_url_downscales_large_images_and_keeps_small_ones() -> None:
    big = Image.new("RGB", (2000, 1000), (0, 0, 255))
    url = image_data_url(big, max_side=256, fmt="JPEG")
    assert url.startswith("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (256, 128)
    small = Image.new("RGB", (20, 10))
    decoded = Image.open(io.BytesIO(base64.b64decode(image_data_url(small, 256, "png").split(",", 1)[1])))
    assert decoded.size == (20, 10) and decoded.format == "PNG"
    with pytest.raises(ValueError, match="'GIF'"):
        image_data_url(small, fmt="gif")


def test_text_only_judgement_has_no_image_part(mmrole_sample: Sample) -> None:
    system, user = build_messages(mmrole_sample, "hello", image_url=None)
    assert system["role"] == "system" and '"A"' in system["content"] and '"B"' in system["content"]
    assert [p["type"] for p in user["content"]] == ["text"]


def test_first_turn_dialogue_is_marked(pcogalign_sample: Sample) -> None:
    _, user = build_messages(pcogalign_sample, "r", image_url="data:image/png;base64,AAAA")
    assert [p["type"] for p in user["content"]] == ["text", "image_url", "text"]
    assert "(this is the first turn)" in user["content"][-1]["text"]
    assert "(here you are a volunteer gardener)" in user["content"][-1]["text"]


def test_persona_that_does_not_match_the_task_is_refused(mmrole_sample: Sample, pcogalign_sample: Sample) -> None:
    with pytest.raises(TypeError, match="'mm-1': an MMRole sample needs a CharacterProfile, got UserProfile"):
        build_messages(replace(mmrole_sample, persona=pcogalign_sample.persona), "r", None)


def test_correction_sends_back_the_answer_and_the_problem() -> None:
    assistant, user = correction_messages("8/10", "no JSON object")
    assert assistant == {"role": "assistant", "content": "8/10"}
    assert user["role"] == "user" and "no JSON object" in user["content"]


@pytest.mark.parametrize("fixture", ["mmrole_sample", "pcogalign_sample"])
def test_rubric_prompt_shows_the_reply_alone_and_asks_for_one_scores_block(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    sample: Sample = request.getfixturevalue(fixture)
    system, user = build_rubric_messages(replace(sample, reference=""), "my reply", image_url=None)
    text = user["content"][-1]["text"]
    assert "my reply" in text and sample.reference not in text and "Response A" not in text
    assert '"scores"' in system["content"] and '"A"' not in system["content"]
    assert all(dim in system["content"] for dim in DIMENSIONS[sample.task])


@pytest.mark.parametrize("fixture", ["mmrole_sample", "pcogalign_sample"])
def test_user_prompt_ends_the_dialogue_with_the_agents_reply(fixture: str, request: pytest.FixtureRequest) -> None:
    sample: Sample = request.getfixturevalue(fixture)
    system, user = build_user_messages(sample, "Try the red one.", image_url="data:image/png;base64,AAAA")
    assert [p["type"] for p in user["content"]] == ["text", "image_url", "text"]
    text = user["content"][-1]["text"]
    dialogue = text.split("## Conversation so far\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert dialogue[:-1] == [f"{t.speaker}: {t.text}" for t in sample.dialogue]
    speaker = "Captain Brine" if sample.task == "mmrole" else "Assistant"
    assert dialogue[-1] == f"{speaker}: Try the red one."
    assert sample.reference not in text and "never write the other side" in system["content"]
