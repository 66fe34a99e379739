"""LLaVA inputs built by hand: bit-identical to transformers' CLIP processor, fixed tower size."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from lam_envs.backbone import Backbone, BackboneConfig, BackboneConfigError, Context


@pytest.mark.parametrize("source_side", [32, 45])
def test_pixel_values_are_bit_identical_to_clip_processor(
    llava: Backbone, source_side: int, noise_image: Callable[[int, int], Image.Image]
) -> None:
    side = llava.image_size
    images = [noise_image(source_side, source_side), noise_image(source_side + 1, source_side)]
    reference = CLIPImageProcessorPil(size={"height": side, "width": side}, do_center_crop=False)(
        images, return_tensors="np"
    )
    ours = llava.family.pixel_inputs(images)["pixel_values"]
    assert ours.shape == (2, 3, side, side)
    np.testing.assert_array_equal(ours.numpy(), reference["pixel_values"])


def test_chat_template_and_image_marker(llava: Backbone) -> None:
    image = Image.new("RGB", (llava.image_size, llava.image_size), "blue")
    ids = llava.encode(Context(image, [("system", "Be kind."), ("user", "colour?")]))
    assert ids.count(llava.family.image_token_id) == llava.num_image_tokens == 16
    text = llava.decode(ids, skip_special_tokens=False)
    assert text.startswith("<|system|>\nBe kind.</s>\n<|user|>\n<image>")
    assert text.endswith("\ncolour?</s>\n<|assistant|>\n")


def test_tower_size_is_fixed(llava_dir: Path) -> None:
    with pytest.raises(BackboneConfigError, match="fixed image_size=32"):
        Backbone(BackboneConfig(llava_dir, image_size=64))
