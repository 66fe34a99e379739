"""What differs between VLM families: image inputs, image features, position ids, and where the text decoder is.

:class:`~lam_envs.backbone.adapter.Backbone` runs the same prefill / step / splice logic for every family and asks
a :class:`VLMFamily` for the family-specific parts. Each family builds its pixel inputs itself from PIL images
(the Qwen2.5-VL processor needs torchvision, which is unavailable here), so inputs never depend on a processor class.
"""

from __future__ import annotations

import abc
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from lam_envs.backbone.config import BackboneConfigError
from lam_envs.files import read_json_object

logger = logging.getLogger(__name__)

# The normalisation constants of OpenAI CLIP, used by both Qwen2.5-VL and LLaVA processors unless a checkpoint's
# preprocessor_config.json says otherwise.
OPENAI_CLIP_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)


def read_preprocessor_config(path: Path) -> dict[str, Any]:
    """Return ``preprocessor_config.json`` of a checkpoint directory, or ``{}`` when it has none.

    Raises:
        BackboneConfigError: if the file is not a JSON object or its normalisation constants are not 3 numbers each.
    """
    file = path / "preprocessor_config.json"
    if not file.exists():
        return {}
    fix = "fix the file or delete it to use the CLIP defaults"
    data = read_json_object(file, BackboneConfigError, fix)
    for key in ("image_mean", "image_std"):
        value = data.get(key, OPENAI_CLIP_MEAN)
        if not (isinstance(value, list | tuple) and len(value) == 3
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
            raise BackboneConfigError(f"{file}: {key}={value!r} must be a list of 3 numbers (one per channel); {fix}")
    if any(v == 0 for v in data.get("image_std", OPENAI_CLIP_STD)):
        raise BackboneConfigError(f"{file}: image_std={data['image_std']} has a zero (it divides the pixels); {fix}")
    return data


def normalized_chw(
    image: Image.Image, size: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> np.ndarray:
    """Resize an image to ``size`` x ``size`` and normalise it, exactly as the transformers PIL processors do.

    The arithmetic (uint8 -> float64 rescale -> float32, then ``(x - mean) / std`` in float32) mirrors
    ``transformers.image_transforms.rescale`` and ``normalize`` so that the result is bit-identical to the
    library's processors on the same resized image.

    Args:
        image: Any PIL image; converted to RGB.
        size: Target side in pixels; the image is resized with bicubic resampling when its size differs.
        mean: Per-channel mean (3 values).
        std: Per-channel standard deviation (3 values).

    Returns:
        A float32 array of shape (3, size, size).
    """
    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), resample=Image.Resampling.BICUBIC)
    chw = np.asarray(image).transpose(2, 0, 1)
    chw = (chw.astype(np.float64) * (1.0 / 255.0)).astype(np.float32)
    mean_arr = np.asarray(mean, dtype=np.float32)
    std_arr = np.asarray(std, dtype=np.float32)
    return ((chw.T - mean_arr) / std_arr).T


class VLMFamily(abc.ABC):
    """Family-specific parts of driving a loaded ``*ForConditionalGeneration`` model.

    Args:
        model: The loaded model (already frozen by the caller).
        path: Checkpoint directory (for ``preprocessor_config.json``).
        image_size: Requested square image side, or ``None`` for the checkpoint's default.
    """

    def __init__(self, model: nn.Module, path: Path, image_size: int | None) -> None:
        self.model = model
        self.config = model.config
        self.path = path
        preproc = read_preprocessor_config(path)
        self.image_mean = tuple(preproc.get("image_mean", OPENAI_CLIP_MEAN))
        self.image_std = tuple(preproc.get("image_std", OPENAI_CLIP_STD))
        self.image_size = self._resolve_image_size(image_size, preproc)

    @property
    def image_token_id(self) -> int:
        """Id of the image placeholder token in the text."""
        return int(self.config.image_token_id)

    @property
    @abc.abstractmethod
    def image_marker(self) -> str:
        """Prompt text that announces an image; holds exactly one image token."""

    @property
    @abc.abstractmethod
    def num_image_tokens(self) -> int:
        """Number of image features (and placeholder tokens) per image."""

    @property
    def text_model(self) -> nn.Module:
        """The decoder stack that runs over embeddings with a KV cache (ends with the final norm)."""
        return self.model.model.language_model

    @abc.abstractmethod
    def _resolve_image_size(self, requested: int | None, preproc: dict[str, Any]) -> int:
        """Validate the requested image side or pick the checkpoint's default."""

    @abc.abstractmethod
    def pixel_inputs(self, images: list[Image.Image]) -> dict[str, torch.Tensor]:
        """Build the vision tower's inputs for a list of images (on CPU, float32)."""

    @abc.abstractmethod
    def image_features(self, pixels: dict[str, torch.Tensor]) -> torch.Tensor:
        """Run the vision tower and projector: (num_images * num_image_tokens, hidden) features."""

    @abc.abstractmethod
    def prefill_positions(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pixels: dict[str, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Position ids for a left-padded prompt batch.

        Args:
            input_ids: (B, L) prompt ids, left-padded.
            attention_mask: (B, L) 1 for real tokens.
            pixels: The batch's pixel inputs (images in row order), or ``None`` when no row has an image.

        Returns:
            The position ids in the shape the text model takes, and ``next_pos`` (B,): the position of the next
            token of each row.
        """

    @abc.abstractmethod
    def text_positions(self, positions: torch.Tensor) -> torch.Tensor:
        """Position ids for new text tokens after a cached prefix, in the shape the text model takes.

        Args:
            positions: (B, m) long; each new token's position (a row's ``next_pos`` onwards).
        """

    def step_positions(self, next_pos: torch.Tensor) -> torch.Tensor:
        """Position ids for one new token per row, in the shape the text model takes."""
        return self.text_positions(next_pos.view(-1, 1))
