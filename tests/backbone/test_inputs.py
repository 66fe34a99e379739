"""Context validation and prompt rendering (tokenizer template or the ChatML fallback)."""

from __future__ import annotations

import pytest
from PIL import Image

from lam_envs.backbone import Backbone, Context
from lam_envs.backbone.inputs import encode_context, render_prompt


def test_context_validation() -> None:
    with pytest.raises(ValueError, match="at least one message"):
        Context(None, [])
    with pytest.raises(ValueError, match="role in"):
        Context(None, [("bot", "hi")])
    with pytest.raises(ValueError, match="user message"):
        Context(Image.new("RGB", (8, 8)), [("system", "hi")])


def test_chatml_fallback_without_a_template(qwen: Backbone) -> None:
    tokenizer = qwen.tokenizer
    template, tokenizer.chat_template = tokenizer.chat_template, None
    try:
        context = Context(Image.new("RGB", (8, 8)), [("system", "S"), ("user", "U"), ("assistant", "A"), ("user", "V")])
        text = render_prompt(context, tokenizer, "<IMG>")
    finally:
        tokenizer.chat_template = template
    assert text == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n<IMG>U<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"
        "<|im_start|>user\nV<|im_end|>\n<|im_start|>assistant\n"
    )


def test_template_and_fallback_agree_for_chatml_tokenizers(qwen: Backbone) -> None:
    context = Context(None, [("system", "Be brief."), ("user", "what colour?")])
    tokenizer = qwen.tokenizer
    with_template = render_prompt(context, tokenizer, qwen.family.image_marker)
    template, tokenizer.chat_template = tokenizer.chat_template, None
    try:
        assert render_prompt(context, tokenizer, qwen.family.image_marker) == with_template
    finally:
        tokenizer.chat_template = template


def test_image_tokens_in_user_text_are_rejected(qwen: Backbone) -> None:
    context = Context(None, [("user", "sneaky <|image_pad|> token")])
    with pytest.raises(ValueError, match="1 image tokens"):
        encode_context(context, qwen.tokenizer, qwen.family.image_marker, qwen.family.image_token_id, 4)
