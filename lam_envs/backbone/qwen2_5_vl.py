"""Qwen2.5-VL family: pixel patches in merge-window order, ``image_grid_thw`` and 3-D (M-RoPE) positions.

Inputs are built without the Qwen processor (it needs torchvision). The layout, checked bit-for-bit against
transformers' ``Qwen2VLImageProcessorPil`` in the tests: normalise with the CLIP mean/std, cut the image into p x p
patches, order patch rows by 2 x 2 merge window (not raster order), repeat each patch ``temporal_patch_size`` times
along time, flatten to (patches, C * t * p * p).

Positions: image tokens get 3-D (time, row, column) positions and text continues after the image at
``start + max(grid_h, grid_w) / merge``, so a row's next position is *not* its token count. We compute the prompt
positions with the model's own ``get_rope_index`` (given ``mm_token_type_ids``, without which the model silently
falls back to 1-D positions) and carry each row's next position as a tensor, so decoding needs no host sync.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
from PIL import Image

from lam_envs.backbone.config import BackboneConfigError
from lam_envs.backbone.family import VLMFamily, normalized_chw

logger = logging.getLogger(__name__)

# Side used when a checkpoint allows a range of image sizes (real Qwen2.5-VL): 448 px is 256 image tokens at
# patch 14, a common fixed-resolution choice; override with BackboneConfig.image_size.
DEFAULT_DYNAMIC_SIDE = 448


def qwen_pixel_values(
    images: list[Image.Image],
    image_size: int,
    patch_size: int,
    merge_size: int,
    temporal_patch_size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Build Qwen2-VL / Qwen2.5-VL ``pixel_values`` and ``image_grid_thw`` for square images.

    Args:
        images: PIL images; each is resized to ``image_size`` x ``image_size`` (bicubic) if needed.
        image_size: Side in pixels, a multiple of ``patch_size * merge_size``.
        patch_size: Vision patch side.
        merge_size: Spatial merge window side (2 x 2 patches become one token).
        temporal_patch_size: Copies of each still image along time.
        mean: Normalisation mean per channel.
        std: Normalisation std per channel.

    Returns:
        ``pixel_values`` float32 (num_images * grid_h * grid_w, 3 * t * p * p) and ``image_grid_thw`` int64
        (num_images, 3).
    """
    grid = image_size // patch_size
    all_patches = []
    for image in images:
        chw = normalized_chw(image, image_size, mean, std)
        patches = chw.reshape(3, grid // merge_size, merge_size, patch_size, grid // merge_size, merge_size, patch_size)
        # -> (window row, window col, row in window, col in window, C, ph, pw): merge-window order.
        patches = patches.transpose(1, 4, 2, 5, 0, 3, 6)
        patches = np.broadcast_to(
            patches[:, :, :, :, :, None], (*patches.shape[:5], temporal_patch_size, *patches.shape[5:])
        )
        all_patches.append(patches.reshape(grid * grid, 3 * temporal_patch_size * patch_size * patch_size))
    pixel_values = torch.from_numpy(np.concatenate(all_patches, axis=0))
    grid_thw = torch.tensor([[1, grid, grid]] * len(images), dtype=torch.long)
    return pixel_values, grid_thw


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


class Qwen2_5_VLFamily(VLMFamily):
    """Drives ``Qwen2_5_VLForConditionalGeneration``."""

    @property
    def _vision(self) -> Any:
        return self.config.vision_config

    @property
    def _factor(self) -> int:
        return int(self._vision.patch_size) * int(self._vision.spatial_merge_size)

    @property
    def image_marker(self) -> str:
        return "<|vision_start|><|image_pad|><|vision_end|>"

    @property
    def num_image_tokens(self) -> int:
        return (self.image_size // self._factor) ** 2

    def _resolve_image_size(self, requested: int | None, preproc: dict[str, Any]) -> int:
        factor = self._factor
        if requested is not None:
            if requested % factor:
                raise BackboneConfigError(
                    f"image_size={requested} must be a multiple of patch_size * spatial_merge_size = {factor} for "
                    f"this Qwen2.5-VL checkpoint; try {max(factor, requested // factor * factor)}"
                )
            return requested
        size = preproc.get("size", {})
        lo = size.get("shortest_edge", preproc.get("min_pixels")) if isinstance(size, dict) else None
        hi = size.get("longest_edge", preproc.get("max_pixels")) if isinstance(size, dict) else None
        if not isinstance(size, dict) or not all(_is_count(v) for v in (lo, hi) if v is not None):
            raise BackboneConfigError(
                f"{self.path / 'preprocessor_config.json'}: size={size!r} (min/max pixels {lo!r}, {hi!r}) must be an "
                "object of positive integer pixel counts; fix the file, or pass BackboneConfig.image_size"
            )
        if lo is not None and lo == hi and math.isqrt(lo) ** 2 == lo and math.isqrt(lo) % factor == 0:
            return math.isqrt(lo)  # a fixed-resolution checkpoint (e.g. the tiny ones built by lam_envs)
        side = max(factor, DEFAULT_DYNAMIC_SIDE // factor * factor)
        logger.info("checkpoint allows dynamic image sizes; resizing every image to %d x %d", side, side)
        return side

    def pixel_inputs(self, images: list[Image.Image]) -> dict[str, torch.Tensor]:
        pixel_values, grid_thw = qwen_pixel_values(
            images,
            self.image_size,
            int(self._vision.patch_size),
            int(self._vision.spatial_merge_size),
            int(self._vision.temporal_patch_size),
            self.image_mean,
            self.image_std,
        )
        return {"pixel_values": pixel_values, "image_grid_thw": grid_thw}

    def image_features(self, pixels: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.model.model.get_image_features(pixels["pixel_values"], pixels["image_grid_thw"], return_dict=True)
        return torch.cat(out.pooler_output, dim=0)

    def prefill_positions(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pixels: dict[str, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mm_token_type_ids = (input_ids == self.image_token_id).int()
        position_ids, _ = self.model.model.get_rope_index(
            input_ids,
            mm_token_type_ids=mm_token_type_ids,
            image_grid_thw=None if pixels is None else pixels["image_grid_thw"],
            attention_mask=attention_mask,
        )
        # Padding positions are 0 and real positions are >= 0, so the max over time and sequence is the last real one.
        next_pos = position_ids.amax(dim=(0, 2)) + 1
        return position_ids, next_pos

    def text_positions(self, positions: torch.Tensor) -> torch.Tensor:
        # Text after the image has equal temporal, height and width positions (M-RoPE).
        return positions.unsqueeze(0).expand(3, -1, -1)
