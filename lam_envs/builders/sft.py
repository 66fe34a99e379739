"""Supervised training batches for a Qwen2.5-VL built here (how the embedded default VLM learns to chat).

An :class:`~lam_envs.latent.features.Example` is a context (optional image + messages) and the assistant's answer.
Batches are encoded exactly as :class:`~lam_envs.backbone.adapter.Backbone` encodes contexts at decode time: the
image marker, image-token count and pixel layout all come from the model's
:class:`~lam_envs.backbone.family.VLMFamily`, so what the model learns is what the environments later ask of it.
The loss is next-token cross-entropy on the answer and its end-of-turn token only.

Only the embedded default is trained here; a real checkpoint is used as it is, frozen.
"""

from __future__ import annotations

from typing import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from lam_envs.backbone.family import VLMFamily
from lam_envs.backbone.inputs import Context, encode_context
from lam_envs.latent.features import Example

IGNORE_INDEX = -100


def encode_example(
    context: Context, answer: str, tokenizer: PreTrainedTokenizerBase, family: VLMFamily, max_tokens: int
) -> tuple[list[int], list[int]]:
    """Token ids and labels of one example (labels are :data:`IGNORE_INDEX` on the prompt).

    The answer is cut to fit ``max_tokens``; an example whose prompt alone is too long raises, since silently cutting
    the prompt would train on a context the model never sees at decode time.
    """
    prompt = encode_context(context, tokenizer, family.image_marker, family.image_token_id, family.num_image_tokens)
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if len(prompt) >= max_tokens:
        raise ValueError(
            f"a training prompt has {len(prompt)} tokens, over max_tokens={max_tokens}; raise max_tokens or "
            "use the compact prompt style"
        )
    answer_ids = answer_ids[: max_tokens - len(prompt)]
    return prompt + answer_ids, [IGNORE_INDEX] * len(prompt) + answer_ids


def collate(
    examples: Sequence[Example], tokenizer: PreTrainedTokenizerBase, family: VLMFamily, max_tokens: int
) -> dict[str, torch.Tensor]:
    """A right-padded training batch for ``Qwen2_5_VLForConditionalGeneration.forward`` (images rendered here)."""
    contexts = [e.context() for e in examples]
    encoded = [encode_example(c, e.answer, tokenizer, family, max_tokens) for c, e in zip(contexts, examples)]
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
        "mm_token_type_ids": (input_ids == family.image_token_id).int(),
    }
    images = [c.image for c in contexts if c.image is not None]
    if images:
        batch |= family.pixel_inputs(images)
    return batch
