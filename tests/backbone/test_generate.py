"""Greedy decoding and cached answer likelihoods agree with the model's own forward pass."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from PIL import Image
from transformers import Qwen2_5_VLForConditionalGeneration

from lam_envs.backbone import Backbone
from lam_envs.backbone.generate import answer_log_likelihood, greedy_token_ids
from lam_envs.builders.sft import IGNORE_INDEX, collate
from lam_envs.latent.features import Example


@dataclass(frozen=True)
class _InMemory:
    """An image source holding an image already rendered."""

    image: Image.Image

    def load(self) -> Image.Image:
        return self.image


def _examples(qwen: Backbone, noise_image) -> list[Example]:
    side = qwen.family.image_size
    return [
        Example(_InMemory(noise_image(0, side)), (("system", "Be brief."), ("user", "What colour is it?")),
                "It is red."),
        Example(None, (("user", "Tell me a story about a big blue square please"),), "Once upon a time."),
    ]


def test_cached_answer_likelihood_matches_the_models_own_loss(qwen: Backbone, noise_image) -> None:
    examples = _examples(qwen, noise_image)
    contexts = [e.context() for e in examples]
    total, count = answer_log_likelihood(qwen, contexts, [e.answer for e in examples], batch_size=2)
    # Reference: the HF model's forward on each full sequence (no cache, no padding), summed token losses.
    model: Qwen2_5_VLForConditionalGeneration = qwen.model
    ref_total, ref_count = 0.0, 0
    for ex in examples:
        batch = collate([ex], qwen.tokenizer, qwen.family, max_tokens=256)
        with torch.inference_mode():
            loss = model(**batch).loss
        n = int((batch["labels"] != IGNORE_INDEX).sum())
        ref_total -= float(loss) * n
        ref_count += n
    assert count == ref_count
    assert math.isclose(total, ref_total, rel_tol=1e-4)


def test_greedy_ids_stop_at_eos_and_agree_across_batch_sizes(qwen: Backbone, noise_image) -> None:
    contexts = [e.context() for e in _examples(qwen, noise_image)]
    together = greedy_token_ids(qwen, contexts, max_new_tokens=12, batch_size=2)
    alone = [greedy_token_ids(qwen, [c], max_new_tokens=12)[0] for c in contexts]
    assert together == alone
    assert all(qwen.eos_token_id not in ids and len(ids) <= 12 for ids in together)
