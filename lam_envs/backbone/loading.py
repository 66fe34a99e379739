"""Loading a checkpoint directory into a frozen VLM: the model (offline, no weights downloaded), its family and its
tokenizer, with every mismatch between config.json and the weights turned into an error that names the fix."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from lam_envs.backbone.config import BackboneConfig, BackboneConfigError
from lam_envs.backbone.family import VLMFamily


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
MATCH_FIX = (
    "config.json and the weights must describe the same model: restore the checkpoint's own config.json, or re-save "
    "model and config together with save_pretrained"
)


def load_checkpoint(config: BackboneConfig) -> tuple[nn.Module, VLMFamily, PreTrainedTokenizerBase]:
    family_name = config.resolved_family()
    path = config.checked_files()
    common = {
        "dtype": DTYPES[config.dtype],
        "local_files_only": True,
        "use_safetensors": True,
        "attn_implementation": config.attn_implementation,
        # Mismatched shapes are then listed in the loading info (and refused by check_loading_info) rather than
        # raised as a bare RuntimeError that points at a log report.
        "ignore_mismatched_sizes": True,
        "output_loading_info": True,
    }
    if family_name == "qwen2_5_vl":
        from transformers import Qwen2_5_VLForConditionalGeneration as model_cls

        from lam_envs.backbone.qwen2_5_vl import Qwen2_5_VLFamily

        family_cls: type[VLMFamily] = Qwen2_5_VLFamily
    else:
        from transformers import LlavaForConditionalGeneration as model_cls  # type: ignore[assignment]

        from lam_envs.backbone.llava import LlavaFamily

        family_cls = LlavaFamily
    try:
        model, info = model_cls.from_pretrained(path, **common)
    except (torch.OutOfMemoryError, MemoryError):
        raise  # the checkpoint may be fine; the machine is not
    except Exception as exc:  # noqa: BLE001 - config classes and loaders raise unrelated types for one bad file
        # The files passed checked_files, so what is left is config.json disagreeing with the weights or with itself.
        raise BackboneConfigError(
            f"transformers could not build the model from {path} ({type(exc).__name__}: {exc}); {MATCH_FIX}"
        ) from None
    check_loading_info(path, info)
    model.to(config.device)
    model.eval()
    model.requires_grad_(False)
    family = family_cls(model, path, config.image_size)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BackboneConfigError(f"no usable tokenizer in {path} ({exc}); save one next to the weights") from None
    vocab = model.get_output_embeddings().out_features
    if not 2 <= len(tokenizer) <= vocab:
        raise BackboneConfigError(
            f"the tokenizer in {path} has {len(tokenizer)} tokens but the model's LM head has {vocab} outputs; save "
            "the tokenizer these weights were trained with next to them (tokenizer.save_pretrained(path))"
        )
    return model, family, tokenizer


def check_loading_info(path: Path, info: dict[str, Any]) -> None:
    """Raise if transformers had to leave out or re-initialise any tensor: a frozen backbone with random parts
    decodes plausible-looking nonsense, so every parameter must come from the file."""
    shapes = [
        f"{key} {list(stored)} (config says {list(wanted)})"
        for key, stored, wanted in info.get("mismatched_keys") or ()
    ]
    found = {
        "missing": sorted(info.get("missing_keys") or ()),
        "unexpected": sorted(info.get("unexpected_keys") or ()),
        "wrong shape": sorted(shapes),
    }
    problems = {label: keys for label, keys in found.items() if keys}
    if problems or info.get("error_msgs"):
        detail = "; ".join(f"{label} {keys[:5]}" + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
                           for label, keys in problems.items()) or "; ".join(map(str, info["error_msgs"]))
        raise BackboneConfigError(
            f"the weights in {path} do not match its config.json: {detail}; {MATCH_FIX}"
        )


def cache_keyword(model: nn.Module) -> str:
    """The keyword a transformers text model takes its KV cache under: ``cache`` (5.24 and newer) or
    ``past_key_values`` (older 5.x, which 5.24 deprecates and 5.40 removes).

    Asked of the model's own ``forward`` signature, so every release in the allowed range gets the keyword it wants
    and no deprecation warning.
    """
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"
