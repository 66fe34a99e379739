"""LLaVA family: a CLIP vision tower and projector in front of a Llama / Qwen2 / Mistral text model.

Pixel inputs are built here (resize to the tower's square size, CLIP normalisation), matching transformers' PIL
CLIP processor bit-for-bit in the tests. Positions are ordinary 1-D ones: each image feature takes one position.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from lam_envs.backbone.config import BackboneConfigError
from lam_envs.backbone.family import VLMFamily, normalized_chw


class LlavaFamily(VLMFamily):
    """Drives ``LlavaForConditionalGeneration`` with a CLIP-style (ViT with class token) vision tower."""

    @property
    def image_marker(self) -> str:
        return "<image>\n"

    @property
    def num_image_tokens(self) -> int:
        vision = self.config.vision_config
        patches = (int(vision.image_size) // int(vision.patch_size)) ** 2
        # "default" drops the class token; "full" keeps it.
        return patches if self.config.vision_feature_select_strategy == "default" else patches + 1

    def _resolve_image_size(self, requested: int | None, preproc: dict[str, Any]) -> int:
        native = int(self.config.vision_config.image_size)
        # CLIP towers have a learned position table for exactly this many patches, so other sizes cannot work.
        if requested is not None and requested != native:
            raise BackboneConfigError(
                f"image_size={requested} differs from this LLaVA vision tower's fixed image_size={native}; "
                "leave image_size unset (None) or set it to the tower's size"
            )
        return native

    def pixel_inputs(self, images: list[Image.Image]) -> dict[str, torch.Tensor]:
        arrays = [normalized_chw(image, self.image_size, self.image_mean, self.image_std) for image in images]
        return {"pixel_values": torch.from_numpy(np.stack(arrays))}

    def image_features(self, pixels: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.model.model.get_image_features(
            pixels["pixel_values"],
            vision_feature_layer=self.config.vision_feature_layer,
            vision_feature_select_strategy=self.config.vision_feature_select_strategy,
            return_dict=True,
        )
        return torch.cat(list(out.pooler_output), dim=0)

    def prefill_positions(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pixels: dict[str, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        mask = attention_mask.long()
        position_ids = (mask.cumsum(-1) - 1).clamp_min(0)
        return position_ids, mask.sum(-1)

    def text_positions(self, positions: torch.Tensor) -> torch.Tensor:
        return positions
