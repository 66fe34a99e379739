"""Supervised training of a backbone VLM on chat examples (used to build the embedded default).

A :class:`ChatExample` is a context (optional image + messages) and the assistant's answer. Batches are encoded
exactly as :class:`~lam_envs.backbone.adapter.Backbone` encodes contexts at decode time (same chat rendering, same
image-token expansion, same pixel layout), so what the model learns is what the environments later ask of it. The
loss is next-token cross-entropy on the answer and its end-of-turn token only.

Only the embedded default is trained here; a real checkpoint is used as it is, frozen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from PIL import Image
from transformers import PreTrainedTokenizerBase

from lam_envs.backbone.inputs import Context, encode_context
from lam_envs.backbone.qwen2_5_vl import qwen_pixel_values

IGNORE_INDEX = -100


@dataclass(frozen=True)
class ChatExample:
    """One supervised example: continue ``messages`` (with ``image``) with ``answer``."""

    image: Image.Image | None
    messages: tuple[tuple[str, str], ...]
    answer: str


@dataclass(frozen=True)
class QwenInputSpec:
    """What encoding needs to know about a Qwen2.5-VL checkpoint (read from its config and processor)."""

    image_token_id: int
    image_marker: str
    num_image_tokens: int
    image_size: int
    patch_size: int
    merge_size: int
    temporal_patch_size: int
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]


def encode_example(
    example: ChatExample, tokenizer: PreTrainedTokenizerBase, spec: QwenInputSpec, max_tokens: int
) -> tuple[list[int], list[int]]:
    """Token ids and labels of one example (labels are :data:`IGNORE_INDEX` on the prompt).

    The answer is cut to fit ``max_tokens``; an example whose prompt alone is too long raises, since silently cutting
    the prompt would train on a context the model never sees at decode time.
    """
    context = Context(image=example.image, messages=list(example.messages))
    prompt = encode_context(context, tokenizer, spec.image_marker, spec.image_token_id, spec.num_image_tokens)
    answer = tokenizer(example.answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if len(prompt) >= max_tokens:
        raise ValueError(
            f"a training prompt has {len(prompt)} tokens, over max_tokens={max_tokens}; raise max_tokens or "
            "use the compact prompt style"
        )
    answer = answer[: max_tokens - len(prompt)]
    return prompt + answer, [IGNORE_INDEX] * len(prompt) + answer


def collate(
    examples: Sequence[ChatExample], tokenizer: PreTrainedTokenizerBase, spec: QwenInputSpec, max_tokens: int
) -> dict[str, torch.Tensor]:
    """A right-padded training batch for ``Qwen2_5_VLForConditionalGeneration.forward``."""
    encoded = [encode_example(e, tokenizer, spec, max_tokens) for e in examples]
    length = max(len(ids) for ids, _ in encoded)
    pad = tokenizer.pad_token_id
    input_ids = torch.full((len(encoded), length), pad, dtype=torch.long)
    labels = torch.full((len(encoded), length), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(encoded), length), dtype=torch.long)
    for row, (ids, lab) in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(lab)] = torch.tensor(lab)
        attention_mask[row, : len(ids)] = 1
    batch = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "labels": labels,
        # Without it Qwen2.5-VL silently falls back to 1-D positions for the image tokens (FIELD-NOTES).
        "mm_token_type_ids": (input_ids == spec.image_token_id).int(),
    }
    images = [e.image for e in examples if e.image is not None]
    if images:
        pixel_values, grid_thw = qwen_pixel_values(
            images,
            spec.image_size,
            spec.patch_size,
            spec.merge_size,
            spec.temporal_patch_size,
            spec.image_mean,
            spec.image_std,
        )
        batch["pixel_values"] = pixel_values
        batch["image_grid_thw"] = grid_thw
    return batch
