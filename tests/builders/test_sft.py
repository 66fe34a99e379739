"""Training batches are encoded as the backbone encodes contexts at decode time, by the model's own family."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lam_envs.backbone import Backbone, BackboneConfig
from lam_envs.builders.sft import IGNORE_INDEX, collate
from lam_envs.latent.features import Example


@dataclass(frozen=True)
class _Noise:
    """A seeded noise image: every pixel matters, so a wrong patch order or normalisation shows."""

    seed: int
    size: int

    def load(self) -> Image.Image:
        rng = np.random.default_rng(self.seed)
        return Image.fromarray(rng.integers(0, 256, (self.size, self.size, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def qwen(tiny_qwen_dir: Path) -> Backbone:
    return Backbone(BackboneConfig(tiny_qwen_dir))


def test_collate_masks_the_prompt_and_marks_image_tokens(qwen: Backbone) -> None:
    examples = [
        Example(_Noise(0, qwen.image_size), (("system", "Be brief."), ("user", "What colour is it?")), "It is red."),
        Example(None, (("user", "Tell me a story about a big blue square please"),), "Once upon a time."),
    ]
    batch = collate(examples, qwen.tokenizer, qwen.family, max_tokens=256)
    for row, ex in enumerate(examples):
        answer = qwen.tokenizer(ex.answer, add_special_tokens=False)["input_ids"] + [qwen.eos_token_id]
        labels = batch["labels"][row]
        assert labels[labels != IGNORE_INDEX].tolist() == answer
        prompt = qwen.encode(ex.context())
        assert batch["input_ids"][row, : len(prompt)].tolist() == prompt
    assert int(batch["mm_token_type_ids"][0].sum()) == qwen.family.num_image_tokens
    assert int(batch["mm_token_type_ids"][1].sum()) == 0
    pixels = qwen.family.pixel_inputs([examples[0].image.load()])
    assert batch["image_grid_thw"].tolist() == pixels["image_grid_thw"].tolist()
    assert batch["pixel_values"].equal(pixels["pixel_values"])


def test_a_prompt_over_the_length_limit_is_refused_not_cut(qwen: Backbone) -> None:
    long = Example(None, (("user", "a very long question " * 40),), "Short.")
    with pytest.raises(ValueError, match="raise max_tokens"):
        collate([long], qwen.tokenizer, qwen.family, max_tokens=32)
