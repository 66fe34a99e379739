"""Qwen2.5-VL inputs built without the processor: bit-identical pixels, right token counts and positions."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from lam_envs.backbone import Backbone, BackboneConfig, BackboneConfigError, Context
from lam_envs.backbone.family import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from lam_envs.backbone.qwen2_5_vl import qwen_pixel_values


@pytest.mark.parametrize(("side", "patch"), [(32, 8), (64, 8), (56, 14)])
def test_pixel_values_are_bit_identical_to_transformers_processor(
    side: int, patch: int, noise_image: Callable[[int, int], Image.Image]
) -> None:
    images = [noise_image(side + i, side) for i in range(2)]
    reference = Qwen2VLImageProcessorPil(
        size={"shortest_edge": side * side, "longest_edge": side * side}, patch_size=patch, merge_size=2
    )(images, return_tensors="np")
    pixel_values, grid_thw = qwen_pixel_values(images, side, patch, 2, 2, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
    assert pixel_values.dtype == torch.float32
    np.testing.assert_array_equal(pixel_values.numpy(), reference["pixel_values"])
    np.testing.assert_array_equal(grid_thw.numpy(), reference["image_grid_thw"])


def test_other_image_sizes_are_resized(qwen: Backbone, noise_image: Callable[[int, int], Image.Image]) -> None:
    pixels = qwen.family.pixel_inputs([noise_image(0, 50)])
    assert pixels["image_grid_thw"].tolist() == [[1, 4, 4]]  # 32 px / patch 8
    state = qwen.prefill([Context(noise_image(0, 50).convert("L"), [("user", "grey?")])])
    assert state.h.shape == (1, qwen.hidden_size)


def test_image_tokens_get_3d_positions_and_text_continues_after_them(
    qwen: Backbone, noise_image: Callable[[int, int], Image.Image]
) -> None:
    context = Context(noise_image(0, qwen.image_size), [("user", "hi")])
    text_only = Context(None, [("user", "hi")])
    state = qwen.prefill([context, text_only])
    n_ids = len(qwen.encode(context))
    # 4 image tokens on a 2 x 2 grid take 2 text positions, so the image row's next position is 2 below its length.
    assert state.next_pos.tolist() == [n_ids - 2, len(qwen.encode(text_only))]


def test_image_marker_is_expanded_to_the_image_token_count(qwen: Backbone) -> None:
    image = Image.new("RGB", (qwen.image_size, qwen.image_size), "red")
    ids = qwen.encode(Context(image, [("user", "colour?")]))
    assert ids.count(qwen.family.image_token_id) == qwen.num_image_tokens == 4
    text = qwen.decode(ids, skip_special_tokens=False)
    assert text.startswith("<|im_start|>user\n<|vision_start|><|image_pad|>")
    assert text.endswith("<|vision_end|>colour?<|im_end|>\n<|im_start|>assistant\n")


def test_image_size_must_fit_patch_and_merge(qwen_dir: Path) -> None:
    with pytest.raises(BackboneConfigError, match="multiple of patch_size"):
        Backbone(BackboneConfig(qwen_dir, image_size=40))
    assert Backbone(BackboneConfig(qwen_dir, image_size=48)).num_image_tokens == 9
