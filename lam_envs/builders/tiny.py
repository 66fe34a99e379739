"""Tiny random checkpoints of each supported family, for tests, benchmarks and the embedded default's starting point.

Each builder makes a real transformers config with random weights, trains a byte-level BPE tokenizer (well under a
second) with the family's chat and image special tokens and a chat template, and writes everything with
``save_pretrained`` so that :class:`~lam_envs.backbone.adapter.Backbone` loads it back like any checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
    "<|video_pad|>",
)
# ChatML, as Qwen2.5 uses it (without Qwen's default system message: contexts bring their own).
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LLAVA_SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "</s>", "<image>", "<|system|>", "<|user|>", "<|assistant|>")
# A Zephyr-style template: deliberately unlike ChatML, so tests exercise a second rendering path.
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_WORDS = (
    "the a an this that red green blue yellow orange purple white black grey brown pink circle square triangle "
    "star heart cross ring big small tiny large left right top bottom middle near far above below on under "
    "picture image photo scene shows there is are what colour color shape where how many one two three four five "
    "i you we they my your our please describe tell me about it see look think feel like love hate happy sad "
    "calm angry today home park street kitchen office school beach forest sky sun moon cloud rain snow tree "
    "flower dog cat bird car house door window table chair book cup hello yes no thanks sure well maybe because"
).split()


def _seeded(build: Callable[[], T], seed: int) -> T:
    """Run ``build`` with torch's global generator seeded, restoring the caller's generator state afterwards.

    transformers initialises weights from the global generator and takes no generator argument; forking keeps the
    seed from leaking into the rest of the program.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def default_corpus(seed: int = 0, n_sentences: int = 2000) -> list[str]:
    """Random sentences over a small English word list, enough to train a tokenizer that covers the synthetic tasks.

    Args:
        seed: Seed of the generator that picks the words.
        n_sentences: Number of sentences.

    Returns:
        The sentences.
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_sentences):
        words = rng.choice(_WORDS, size=int(rng.integers(3, 13)))
        sentence = " ".join(words)
        out.append(sentence[0].upper() + sentence[1:] + str(rng.choice([".", "?", "!", ","])))
    return out


def train_tokenizer(
    corpus: Iterable[str],
    special_tokens: Sequence[str],
    *,
    eos_token: str,
    pad_token: str,
    chat_template: str,
    vocab_size: int = 2000,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer (every string encodes; decoding restores it exactly).

    Args:
        corpus: Training sentences.
        special_tokens: Tokens that are never split; they get the first ids in this order.
        eos_token: The token that ends an assistant reply.
        pad_token: The padding token.
        chat_template: Jinja chat template stored with the tokenizer.
        vocab_size: Target vocabulary size including the 256 byte symbols and the special tokens.

    Returns:
        A ``PreTrainedTokenizerFast`` ready for ``save_pretrained``.
    """
    for token in (eos_token, pad_token):
        if token not in special_tokens:
            raise ValueError(f"{token!r} must be one of special_tokens={list(special_tokens)}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos_token, pad_token=pad_token)
    fast.chat_template = chat_template
    return fast


def train_qwen_tokenizer(corpus: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer with Qwen2.5-VL's special tokens, EOS (``<|im_end|>``), pad and chat template."""
    return train_tokenizer(
        corpus,
        QWEN_SPECIAL_TOKENS,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=QWEN_CHAT_TEMPLATE,
        vocab_size=vocab_size,
    )


@dataclass(frozen=True)
class TinyQwenSizes:
    """Sizes of a tiny Qwen2.5-VL (the defaults are the embedded default VLM's: about 5M parameters).

    Attributes:
        hidden_size: Text model width d.
        num_layers: Text decoder layers.
        num_heads: Attention heads (head_dim = hidden_size / num_heads).
        num_kv_heads: Key/value heads (grouped-query attention).
        intermediate_size: Text MLP width.
        vision_depth: Vision transformer blocks.
        vision_hidden_size: Vision width.
        vision_heads: Vision attention heads.
        vision_intermediate_size: Vision MLP width.
        patch_size: Vision patch side in pixels.
        image_size: Square image side in pixels; (image_size / patch_size / 2)^2 image tokens.
        vocab_size: Target tokenizer vocabulary size (the model's vocabulary is the trained tokenizer's size).
        initializer_range: Std of the random weights; tests raise it so that an untrained model's greedy tokens
            vary instead of repeating one token.
    """

    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 512
    vision_depth: int = 2
    vision_hidden_size: int = 128
    vision_heads: int = 2
    vision_intermediate_size: int = 256
    patch_size: int = 8
    image_size: int = 64
    vocab_size: int = 2000
    initializer_range: float = 0.02


UNIT_TEST_SIZES = TinyQwenSizes(
    hidden_size=64,
    num_layers=2,
    num_heads=4,
    num_kv_heads=2,
    intermediate_size=128,
    vision_hidden_size=32,
    vision_intermediate_size=64,
    image_size=32,
    vocab_size=800,
    initializer_range=0.2,
)
"""Sizes for unit tests: a model that builds and runs in well under a second. The large ``initializer_range`` makes
an untrained model's greedy tokens vary from step to step, so token-equality tests can actually fail."""


def mrope_section(head_dim: int) -> list[int]:
    """Split head_dim / 2 rotary frequencies over (time, height, width) in Qwen's 1 : 1.5 : 1.5 proportion."""
    half = head_dim // 2
    hw = (half - half // 4) // 2
    return [half - 2 * hw, hw, hw]


def tiny_qwen2_5_vl_config(sizes: TinyQwenSizes, tokenizer: PreTrainedTokenizerFast) -> Qwen2_5_VLConfig:
    """A Qwen2.5-VL config of the given sizes whose special-token ids match ``tokenizer``.

    Raises:
        ValueError: if the sizes are inconsistent (head split, image side not a multiple of 2 x patch).
    """
    if sizes.hidden_size % sizes.num_heads or sizes.num_heads % sizes.num_kv_heads:
        raise ValueError(f"hidden_size/num_heads/num_kv_heads must divide evenly: {sizes}")
    if sizes.image_size % (2 * sizes.patch_size):
        raise ValueError(f"image_size={sizes.image_size} must be a multiple of 2 * patch_size={2 * sizes.patch_size}")
    ids = tokenizer.convert_tokens_to_ids
    head_dim = sizes.hidden_size // sizes.num_heads
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": sizes.hidden_size,
        "intermediate_size": sizes.intermediate_size,
        "num_hidden_layers": sizes.num_layers,
        "num_attention_heads": sizes.num_heads,
        "num_key_value_heads": sizes.num_kv_heads,
        "max_position_embeddings": 4096,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope_section(head_dim)},
        "bos_token_id": ids("<|endoftext|>"),
        "eos_token_id": ids("<|im_end|>"),
        "pad_token_id": ids("<|endoftext|>"),
        "initializer_range": sizes.initializer_range,
    }
    vision = {
        "depth": sizes.vision_depth,
        "hidden_size": sizes.vision_hidden_size,
        "intermediate_size": sizes.vision_intermediate_size,
        "num_heads": sizes.vision_heads,
        "patch_size": sizes.patch_size,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": sizes.image_size,  # in pixels: one window covers a whole tiny image
        "out_hidden_size": sizes.hidden_size,
        "fullatt_block_indexes": [sizes.vision_depth - 1],
        "initializer_range": sizes.initializer_range,
    }
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
        initializer_range=sizes.initializer_range,
    )


def save_qwen_preprocessor(out_dir: Path, sizes: TinyQwenSizes) -> None:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    # A fixed-resolution processor config (min = max pixels) records the image side with the checkpoint, in the
    # format real Qwen checkpoints use.
    side = sizes.image_size * sizes.image_size
    Qwen2VLImageProcessorPil(
        size={"shortest_edge": side, "longest_edge": side}, patch_size=sizes.patch_size, merge_size=2
    ).save_pretrained(out_dir)


def build_tiny_qwen2_5_vl(
    out_dir: str | Path,
    sizes: TinyQwenSizes = TinyQwenSizes(),
    *,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
) -> Path:
    """Write a random tiny Qwen2.5-VL checkpoint (config, weights, tokenizer, preprocessor config).

    Args:
        out_dir: Directory to create or overwrite.
        sizes: Model sizes.
        seed: Seed for the weights and the default corpus.
        corpus: Tokenizer training sentences; defaults to :func:`default_corpus`.

    Returns:
        The checkpoint directory.
    """
    out = Path(out_dir)
    tokenizer = train_qwen_tokenizer(default_corpus(seed) if corpus is None else corpus, sizes.vocab_size)
    model = _seeded(lambda: Qwen2_5_VLForConditionalGeneration(tiny_qwen2_5_vl_config(sizes, tokenizer)), seed)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    save_qwen_preprocessor(out, sizes)
    logger.info("wrote tiny Qwen2.5-VL (%d parameters) to %s", sum(p.numel() for p in model.parameters()), out)
    return out


def build_tiny_llava(
    out_dir: str | Path,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    vision_hidden_size: int = 64,
    image_size: int = 32,
    patch_size: int = 8,
    vocab_size: int = 1000,
    initializer_range: float = 0.02,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
) -> Path:
    """Write a random tiny LLaVA checkpoint: CLIP vision tower, MLP projector and a Llama text model.

    Args:
        out_dir: Directory to create or overwrite.
        hidden_size: Text model width.
        num_layers: Text decoder layers (the vision tower has the same number).
        vision_hidden_size: Vision tower width.
        image_size: Square image side; (image_size / patch_size)^2 image tokens.
        patch_size: Vision patch side.
        vocab_size: Target tokenizer vocabulary size.
        initializer_range: Std of the random weights (see :class:`TinyQwenSizes`).
        seed: Seed for the weights and the default corpus.
        corpus: Tokenizer training sentences; defaults to :func:`default_corpus`.

    Returns:
        The checkpoint directory.
    """
    out = Path(out_dir)
    tokenizer = train_tokenizer(
        default_corpus(seed) if corpus is None else corpus,
        LLAVA_SPECIAL_TOKENS,
        eos_token="</s>",
        pad_token="<pad>",
        chat_template=LLAVA_CHAT_TEMPLATE,
        vocab_size=vocab_size,
    )
    ids = tokenizer.convert_tokens_to_ids
    vision = CLIPVisionConfig(
        hidden_size=vision_hidden_size,
        intermediate_size=2 * vision_hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch_size,
        projection_dim=vision_hidden_size,
        initializer_range=initializer_range,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=None,
        eos_token_id=ids("</s>"),
        pad_token_id=ids("<pad>"),
        initializer_range=initializer_range,
    )
    config = LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=ids("<image>"), initializer_range=initializer_range
    )
    model = _seeded(lambda: LlavaForConditionalGeneration(config), seed)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    logger.info("wrote tiny LLaVA (%d parameters) to %s", sum(p.numel() for p in model.parameters()), out)
    return out
