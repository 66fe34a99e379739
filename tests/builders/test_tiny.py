"""Tiny checkpoint builders: sizes of the embedded default, tokenizer behaviour, seeded weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import PreTrainedTokenizerFast

from lam_envs.builders.tiny import (
    QWEN_CHAT_TEMPLATE,
    QWEN_SPECIAL_TOKENS,
    TinyQwenSizes,
    build_tiny_llava,
    default_corpus,
    mrope_section,
    tiny_qwen2_5_vl_config,
    train_tokenizer,
)


@pytest.fixture(scope="module")
def qwen_tokenizer() -> PreTrainedTokenizerFast:
    return train_tokenizer(
        default_corpus(0), QWEN_SPECIAL_TOKENS, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        chat_template=QWEN_CHAT_TEMPLATE, vocab_size=600,
    )


def test_default_sizes_are_the_embedded_default(qwen_tokenizer: PreTrainedTokenizerFast) -> None:
    config = tiny_qwen2_5_vl_config(TinyQwenSizes(), qwen_tokenizer)
    text, vision = config.text_config, config.vision_config
    assert (text.hidden_size, text.num_hidden_layers, text.vocab_size) == (256, 4, len(qwen_tokenizer))
    assert (vision.depth, vision.hidden_size, vision.patch_size, vision.out_hidden_size) == (2, 128, 8, 256)
    assert sum(text.rope_parameters["mrope_section"]) == (256 // 4) // 2
    assert (64 // (8 * 2)) ** 2 == 16  # image tokens of a 64 x 64 image
    assert config.image_token_id == qwen_tokenizer.convert_tokens_to_ids("<|image_pad|>")


@pytest.mark.parametrize("head_dim", [16, 32, 64, 128])
def test_mrope_section_covers_half_the_head(head_dim: int) -> None:
    section = mrope_section(head_dim)
    assert sum(section) == head_dim // 2 and section[1] == section[2]
    if head_dim == 128:
        assert section == [16, 24, 24]  # Qwen2.5-VL's own split


def test_tokenizer_round_trips_text_and_keeps_special_tokens_whole(qwen_tokenizer: PreTrainedTokenizerFast) -> None:
    text = "Hello, a RED zebra!\nZürich 42"  # unseen words and characters still encode (byte-level)
    assert qwen_tokenizer.decode(qwen_tokenizer(text)["input_ids"]) == text
    ids = qwen_tokenizer("<|im_start|>user<|image_pad|>")["input_ids"]
    assert ids[0] == qwen_tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids[-1] == qwen_tokenizer.convert_tokens_to_ids("<|image_pad|>")


def test_inconsistent_sizes_are_rejected(qwen_tokenizer: PreTrainedTokenizerFast) -> None:
    with pytest.raises(ValueError, match="image_size=60"):
        tiny_qwen2_5_vl_config(TinyQwenSizes(image_size=60), qwen_tokenizer)
    with pytest.raises(ValueError, match="divide evenly"):
        tiny_qwen2_5_vl_config(TinyQwenSizes(num_heads=3), qwen_tokenizer)


def test_builds_are_seeded_and_leave_the_global_generator_alone(tmp_path: Path) -> None:
    state = torch.random.get_rng_state()
    a = load_file(build_tiny_llava(tmp_path / "a", seed=3) / "model.safetensors")
    b = load_file(build_tiny_llava(tmp_path / "b", seed=3) / "model.safetensors")
    c = load_file(build_tiny_llava(tmp_path / "c", seed=4) / "model.safetensors")
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
