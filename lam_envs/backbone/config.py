"""Typed settings for loading a frozen VLM backbone from a local Hugging Face checkpoint directory."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lam_envs.files import FLOAT_DTYPES, read_json_object, safetensors_header

logger = logging.getLogger(__name__)

Family = Literal["qwen2_5_vl", "llava"]
Dtype = Literal["float32", "bfloat16"]

# config.json ``model_type`` -> adapter family. Only architectures whose inputs we build by hand and whose decoding we
# test are listed: an unknown type fails loudly instead of being driven through code paths that were never checked.
MODEL_TYPE_TO_FAMILY: dict[str, Family] = {
    "qwen2_5_vl": "qwen2_5_vl",
    "llava": "llava",
}


SAFETENSORS_NAME = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
JSON_SIDE_FILES: tuple[str, ...] = (
    "generation_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "special_tokens_map.json",
    "added_tokens.json",
)
"""JSON files transformers may read beside ``config.json``; each must be an object when present."""
TOKENIZER_VOCABULARIES: tuple[tuple[str, ...], ...] = (
    ("tokenizer.json",),
    ("tokenizer.model",),
    ("vocab.json", "merges.txt"),
)
"""File sets any one of which gives a tokenizer its vocabulary (without one, transformers builds a one-token one)."""
_RESAVE = "re-save the checkpoint with transformers' save_pretrained (or copy the file again from its source)"


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
                "be downloaded here) or build a tiny one with lam_envs.builders.tiny"
            )
        if not (self.path / "config.json").exists():
            raise BackboneConfigError(
                f"{self.path} has no config.json; point `path` at a directory written by save_pretrained"
            )
        return self.path

    def read_config(self) -> dict[str, Any]:
        """Return ``config.json`` after checking that it is a JSON object with a string ``model_type``.

        Raises:
            BackboneConfigError: if the directory is unusable or ``config.json`` is not such an object.
        """
        config_path = self.checked_dir() / "config.json"
        data = read_json_object(config_path, BackboneConfigError, _RESAVE)
        if not isinstance(data.get("model_type"), str):
            raise BackboneConfigError(
                f"{config_path} is not a transformers config with a model_type (found "
                f"model_type={data.get('model_type')!r}); {_RESAVE}"
            )
        return data

    def resolved_family(self) -> Family:
        """Return the adapter family: the explicit one, else the one named by ``config.json``'s ``model_type``.

        Raises:
            BackboneConfigError: if the directory is unusable, the model type is unsupported, or it contradicts an
                explicitly given family.
        """
        config_path = self.checked_dir() / "config.json"
        model_type = self.read_config()["model_type"]
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

    def checked_files(self) -> Path:
        """Check every file transformers will read before it reads any, and return the directory.

        transformers reports bad files in many ways (a ``SafetensorError``, a ``TypeError`` deep inside a config
        class, a silently re-initialised or one-token tokenizer), so the checkpoint is checked here, once, and a bad
        file of any kind becomes one :class:`BackboneConfigError` naming it and the fix:

        * ``config.json`` and every JSON side file present (generation, preprocessor, tokenizer, index) are JSON
          objects;
        * the weights are safetensors (a single file, or the shards named by ``model.safetensors.index.json``),
          complete, with floating-point parameters; pickled ``.bin`` weights are refused, since unpickling can run
          code;
        * a tokenizer vocabulary is present (``tokenizer.json``, ``tokenizer.model`` or ``vocab.json`` +
          ``merges.txt``).

        Raises:
            BackboneConfigError: for the first bad or missing file.
        """
        path = self.checked_dir()
        self.read_config()
        for name in JSON_SIDE_FILES:
            if (path / name).exists():
                read_json_object(path / name, BackboneConfigError, _RESAVE)
        for shard in self._weight_files(path):
            header = safetensors_header(shard, BackboneConfigError, _RESAVE)
            # Buffers such as position ids may be integers; a weight or bias never is.
            bad = sorted(
                k for k, (dtype, _) in header.items() if k.endswith((".weight", ".bias")) and dtype not in FLOAT_DTYPES
            )
            if bad:
                raise BackboneConfigError(
                    f"{shard} stores parameters in a non-floating dtype ({bad[:3]}: {header[bad[0]][0]}); "
                    f"{_RESAVE}"
                )
        if not any(all((path / name).is_file() for name in names) for names in TOKENIZER_VOCABULARIES):
            raise BackboneConfigError(
                f"{path} has no tokenizer vocabulary (one of {[' + '.join(n) for n in TOKENIZER_VOCABULARIES]}); "
                "save the model's tokenizer next to the weights with tokenizer.save_pretrained(path)"
            )
        return path

    @staticmethod
    def _weight_files(path: Path) -> list[Path]:
        index = path / SAFETENSORS_INDEX
        if index.exists():
            weight_map = read_json_object(index, BackboneConfigError, _RESAVE).get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map or not all(
                isinstance(v, str) and "/" not in v and v != ".." for v in weight_map.values()
            ):
                raise BackboneConfigError(
                    f"{index} must map tensor names to shard file names in {path} under 'weight_map'; {_RESAVE}"
                )
            return [path / name for name in sorted(set(weight_map.values()))]
        if (path / SAFETENSORS_NAME).exists():
            return [path / SAFETENSORS_NAME]
        pickled = sorted(p.name for p in path.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        if pickled:
            raise BackboneConfigError(
                f"{path} holds pickled weights {pickled} and no {SAFETENSORS_NAME}; lam-gym loads safetensors only "
                "(unpickling a file can run code). Convert them where you trust the file: load the model with "
                "transformers and call model.save_pretrained(path), which writes safetensors"
            )
        raise BackboneConfigError(f"{path} has no weights ({SAFETENSORS_NAME} or {SAFETENSORS_INDEX}); {_RESAVE}")
