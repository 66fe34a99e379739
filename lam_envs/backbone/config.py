"""Typed settings for loading a frozen VLM backbone from a local Hugging Face checkpoint directory."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

Family = Literal["qwen2_5_vl", "llava"]
Dtype = Literal["float32", "bfloat16"]

# config.json ``model_type`` -> adapter family. Only architectures whose inputs we build by hand and whose decoding we
# test are listed: an unknown type fails loudly instead of being driven through code paths that were never checked.
MODEL_TYPE_TO_FAMILY: dict[str, Family] = {
    "qwen2_5_vl": "qwen2_5_vl",
    "llava": "llava",
}


class BackboneConfigError(ValueError):
    """The backbone settings or the checkpoint directory they point to are unusable."""


@dataclass(frozen=True)
class BackboneConfig:
    """Where the frozen VLM lives and how to run it.

    Attributes:
        path: Local checkpoint directory holding ``config.json``, the weights and the tokenizer files.
        family: Adapter family; ``None`` detects it from ``config.json``'s ``model_type``.
        dtype: Parameter and activation dtype: ``"float32"`` (default) or ``"bfloat16"``.
        device: Torch device string, e.g. ``"cpu"`` (default), ``"cuda"`` or ``"cuda:1"``.
        image_size: Square side in pixels that every image is resized to; ``None`` takes the checkpoint's own
            (LLaVA: the vision tower's ``image_size``; Qwen2.5-VL: ``preprocessor_config.json``, see the family).
        max_context_tokens: Longest sequence (prompt plus generated tokens, padding included) a decode state may
            reach; exceeding it raises instead of silently running past the model's trained context.
        attn_implementation: Attention kernel passed to ``from_pretrained`` (``"sdpa"`` or ``"eager"``).
    """

    path: Path
    family: Family | None = None
    dtype: Dtype = "float32"
    device: str = "cpu"
    image_size: int | None = None
    max_context_tokens: int = 4096
    attn_implementation: Literal["sdpa", "eager"] = "sdpa"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.dtype not in ("float32", "bfloat16"):
            raise BackboneConfigError(f"dtype={self.dtype!r} is not supported; use 'float32' or 'bfloat16'")
        if self.family is not None and self.family not in MODEL_TYPE_TO_FAMILY.values():
            raise BackboneConfigError(
                f"family={self.family!r} is not supported; use one of {sorted(set(MODEL_TYPE_TO_FAMILY.values()))} "
                "or None to detect it from config.json"
            )
        if self.image_size is not None and self.image_size <= 0:
            raise BackboneConfigError(f"image_size={self.image_size} must be a positive number of pixels")
        if self.max_context_tokens <= 0:
            raise BackboneConfigError(f"max_context_tokens={self.max_context_tokens} must be positive")
        if not (self.device == "cpu" or self.device.startswith("cuda") or self.device == "mps"):
            raise BackboneConfigError(f"device={self.device!r} is not a torch device string; use 'cpu' or 'cuda[:N]'")

    def checked_dir(self) -> Path:
        """Return the checkpoint directory after checking that it exists and holds a ``config.json``.

        Raises:
            BackboneConfigError: if the directory or its ``config.json`` is missing.
        """
        if not self.path.is_dir():
            raise BackboneConfigError(
                f"backbone directory {self.path} does not exist; pass a local checkpoint directory (weights cannot "
                "be downloaded here) or build a tiny one with lam_envs.backbone.tiny"
            )
        if not (self.path / "config.json").is_file():
            raise BackboneConfigError(
                f"{self.path} has no config.json; point `path` at a directory written by save_pretrained"
            )
        return self.path

    def resolved_family(self) -> Family:
        """Return the adapter family: the explicit one, else the one named by ``config.json``'s ``model_type``.

        Raises:
            BackboneConfigError: if the directory is unusable, the model type is unsupported, or it contradicts an
                explicitly given family.
        """
        config_path = self.checked_dir() / "config.json"
        try:
            model_type = json.loads(config_path.read_text())["model_type"]
        except (json.JSONDecodeError, KeyError) as exc:
            raise BackboneConfigError(f"{config_path} is not a transformers config with a model_type ({exc})") from None
        detected = MODEL_TYPE_TO_FAMILY.get(model_type)
        if detected is None:
            raise BackboneConfigError(
                f"model_type {model_type!r} in {config_path} is not supported; supported model types: "
                f"{sorted(MODEL_TYPE_TO_FAMILY)}"
            )
        if self.family is not None and self.family != detected:
            raise BackboneConfigError(
                f"family={self.family!r} was given but {config_path} says model_type {model_type!r}; "
                "drop `family` to detect it"
            )
        return detected
