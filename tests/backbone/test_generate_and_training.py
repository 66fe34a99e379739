from __future__ import annotations

import math

import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from lam_envs.backbone import Backbone, Context
from lam_envs.backbone.generate import answer_log_likelihood, greedy_token_ids
from lam_envs.backbone.training import IGNORE_INDEX, ChatExample, QwenInputSpec, collate


def _spec(qwen: Backbone) -> QwenInputSpec:
    vision = qwen.model.config.vision_config
    return QwenInputSpec(
        image_token_id=qwen.family.image_token_id,
        image_marker=qwen.family.image_marker,
        num_image_tokens=qwen.family.num_image_tokens,
        image_size=qwen.family.image_size,
        patch_size=vision.patch_size,
        merge_size=vision.spatial_merge_size,
        temporal_patch_size=vision.temporal_patch_size,
        image_mean=tuple(qwen.family.image_mean),
        image_std=tuple(qwen.family.image_std),
    )


def _examples(qwen: Backbone, noise_image) -> list[ChatExample]:
    side = qwen.family.image_size
    return [
        ChatExample(noise_image(0, side), (("system", "Be brief."), ("user", "What colour is it?")), "It is red."),
        ChatExample(None, (("user", "Tell me a story about a big blue square please"),), "Once upon a time."),
    ]


def test_collate_masks_the_prompt_and_marks_image_tokens(qwen: Backbone, noise_image) -> None:
    batch = collate(_examples(qwen, noise_image), qwen.tokenizer, _spec(qwen), max_tokens=256)
    for row, ex in enumerate(_examples(qwen, noise_image)):
        answer = qwen.tokenizer(ex.answer, add_special_tokens=False)["input_ids"] + [qwen.eos_token_id]
        labels = batch["labels"][row]
        assert labels[labels != IGNORE_INDEX].tolist() == answer
        prompt = qwen.encode(Context(ex.image, list(ex.messages)))
        assert batch["input_ids"][row, : len(prompt)].tolist() == prompt
    assert int(batch["mm_token_type_ids"][0].sum()) == qwen.family.num_image_tokens
    assert int(batch["mm_token_type_ids"][1].sum()) == 0
    assert batch["image_grid_thw"].shape == (1, 3)


def test_cached_answer_likelihood_matches_the_models_own_loss(qwen: Backbone, noise_image) -> None:
    examples = _examples(qwen, noise_image)
    contexts = [Context(e.image, list(e.messages)) for e in examples]
    total, count = answer_log_likelihood(qwen, contexts, [e.answer for e in examples], batch_size=2)
    # Reference: the HF model's forward on each full sequence (no cache, no padding), summed token losses.
    model: Qwen2_5_VLForConditionalGeneration = qwen.model
    ref_total, ref_count = 0.0, 0
    for ex in examples:
        batch = collate([ex], qwen.tokenizer, _spec(qwen), max_tokens=256)
        with torch.inference_mode():
            loss = model(**batch).loss
        n = int((batch["labels"] != IGNORE_INDEX).sum())
        ref_total -= float(loss) * n
        ref_count += n
    assert count == ref_count
    assert math.isclose(total, ref_total, rel_tol=1e-4)


def test_greedy_ids_stop_at_eos_and_agree_across_batch_sizes(qwen: Backbone, noise_image) -> None:
    contexts = [Context(e.image, list(e.messages)) for e in _examples(qwen, noise_image)]
    together = greedy_token_ids(qwen, contexts, max_new_tokens=12, batch_size=2)
    alone = [greedy_token_ids(qwen, [c], max_new_tokens=12)[0] for c in contexts]
    assert together == alone
    assert all(qwen.eos_token_id not in ids and len(ids) <= 12 for ids in together)
