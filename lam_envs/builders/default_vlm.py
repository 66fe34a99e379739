"""The embedded default VLM: a tiny Qwen2.5-VL trained by lam-gym on its own synthetic data.

``lam build-default`` runs :func:`build_default_vlm`: it trains a byte-level BPE tokenizer on text from every
synthetic source, builds a Qwen2.5-VL (the paper's model class) of :class:`TinyQwenSizes`, and trains it with
next-token cross-entropy on a fixed mix of

* the two tasks' SFT splits (the agent's prompt in the compact style, the reference as the answer),
* the paired image-text corpus (captions and questions about scenes), and
* the text-only corpus (monologues, stories, advice), as dialogues without an image.

Training runs in :func:`~lam_envs.latent.loop.train_loop`, the latent stages' loop, with the same warm-up + cosine
schedule. Everything is seeded and the number of steps is fixed, so the same config gives the same weights on the
same software stack. The result ships in ``lam_envs/assets/default/backbone`` (weights stored in bfloat16 to keep
the package small; they load as float32), where :func:`~lam_envs.backbone.default.default_backbone_dir` finds it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from lam_envs.backbone.qwen2_5_vl import Qwen2_5_VLFamily
from lam_envs.builders.sft import collate
from lam_envs.builders.tiny import TinyQwenSizes, save_qwen_preprocessor, tiny_qwen2_5_vl_config, train_qwen_tokenizer
from lam_envs.data.prompts import PromptStyle, sample_messages
from lam_envs.data.synthetic import synthetic_samples
from lam_envs.data.synthetic.corpora import PairedCorpus, TextCorpus, text_messages
from lam_envs.data.types import TASKS, Split
from lam_envs.latent.features import Example
from lam_envs.latent.loop import LoopConfig, train_loop, warmup_cosine_lr

logger = logging.getLogger(__name__)

LOG_EVERY = 50
"""Steps between the training log's rows in ``build_config.json``."""


@dataclass(frozen=True)
class DefaultVLMConfig:
    """How the embedded default VLM is built. The defaults are what ships."""

    seed: int = 0
    """Seed of every random choice: tokenizer corpus, weight init, batch order."""
    sizes: TinyQwenSizes = field(default_factory=lambda: TinyQwenSizes(vocab_size=4096))
    """Model sizes (Qwen2.5-VL, 64x64 images -> 16 image tokens)."""
    tokenizer_texts: int = 40_000
    """Texts drawn from all sources to train the tokenizer."""
    steps: int = 700
    """Optimizer steps (fixed, so that a rebuild is deterministic)."""
    batch_size: int = 32
    """Examples per step."""
    learning_rate: float = 1.5e-3
    """Peak AdamW learning rate (linear warm-up, cosine decay to 10%)."""
    warmup_steps: int = 50
    """Linear warm-up steps."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    max_tokens: int = 160
    """Longest training sequence (prompt + answer); answers are cut to fit."""
    task_share: float = 0.5
    """Share of each batch drawn from the tasks' SFT splits (half MMRole, half PCogAlign)."""
    paired_share: float = 0.3
    """Share drawn from the paired image-text corpus; the rest comes from the text-only corpus."""
    prompt_style: PromptStyle = "compact"
    """How task samples are shown (see :mod:`lam_envs.data.prompts`)."""
    corpus_size: int = 60_000
    """Items in each pretraining corpus."""
    threads: int = 2
    """Torch CPU threads."""

    def __post_init__(self) -> None:
        if not 0 <= self.task_share + self.paired_share <= 1:
            raise ValueError(f"task_share + paired_share must lie in [0, 1], got {self.task_share + self.paired_share}")
        if self.steps <= 0 or self.batch_size <= 0:
            raise ValueError(f"steps and batch_size must be positive, got {self.steps} and {self.batch_size}")

    def loop(self) -> LoopConfig:
        """The training loop's settings: these, with the warm-up counted in steps."""
        return _StepsWarmupLoop(
            steps=self.steps, batch_size=self.batch_size, learning_rate=self.learning_rate,
            weight_decay=self.weight_decay, seed=self.seed, checkpoint_every=0, log_every=LOG_EVERY,
            warmup_steps=self.warmup_steps,
        )


@dataclass(frozen=True)
class _StepsWarmupLoop(LoopConfig):
    """Loop settings whose warm-up is a number of steps, as :class:`DefaultVLMConfig` gives it (the stages give a
    fraction of the run instead; a short test build stays inside the warm-up)."""

    warmup_steps: int = 0

    def lr_at(self, step: int) -> float:
        return warmup_cosine_lr(step, self.learning_rate, self.warmup_steps, self.steps)


class _Sources:
    """The three example sources, drawn from with the build's own generator."""

    def __init__(self, config: DefaultVLMConfig) -> None:
        self.config = config
        self.tasks = {task: synthetic_samples(task, Split.SFT, seed=config.seed) for task in TASKS}
        self.paired = PairedCorpus(seed=config.seed, size=config.corpus_size)
        self.text = TextCorpus(seed=config.seed, size=config.corpus_size)

    def texts(self, rng: np.random.Generator, n: int) -> Iterator[str]:
        """Text for the tokenizer: prompts and answers of every source, in the build's proportions."""
        for _ in range(n):
            draw = self.draw(rng)
            yield from (text for _, text in draw.messages)
            yield draw.answer

    def draw(self, rng: np.random.Generator) -> Example:
        """One example, its image not yet rendered (the tokenizer needs only the text)."""
        u = rng.random()
        if u < self.config.task_share:
            samples = self.tasks[TASKS[int(rng.integers(len(TASKS)))]]
            sample = samples[int(rng.integers(len(samples)))]
            return Example(sample.image, tuple(sample_messages(sample, self.config.prompt_style)), sample.reference)
        if u < self.config.task_share + self.config.paired_share:
            item = self.paired[int(rng.integers(len(self.paired)))]
            return Example(item.scene, (("user", item.prompt),), item.answer)
        messages, answer = text_messages(self.text[int(rng.integers(len(self.text)))])
        return Example(None, messages, answer)


def build_default_vlm(out_dir: str | Path, config: DefaultVLMConfig = DefaultVLMConfig(), progress: bool = True) -> Path:
    """Train the embedded default VLM from scratch and save it with ``save_pretrained``.

    Args:
        out_dir: Directory to write (created; existing files are overwritten).
        config: The build settings.
        progress: Show a progress bar.

    Returns:
        ``out_dir``, holding the weights, tokenizer, preprocessor config and ``build_config.json`` (the full config
        and the training log).
    """
    from transformers import Qwen2_5_VLForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads)
    started = time.perf_counter()
    sources = _Sources(config)
    rng = np.random.default_rng(config.seed)
    logger.info("training the tokenizer on %d examples' text", config.tokenizer_texts)
    tokenizer = train_qwen_tokenizer(sources.texts(rng, config.tokenizer_texts), config.sizes.vocab_size)
    torch.manual_seed(config.seed)
    model = Qwen2_5_VLForConditionalGeneration(tiny_qwen2_5_vl_config(config.sizes, tokenizer))
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    # The tokenizer and preprocessor config go first, so that the family reads the image side, marker and pixel
    # normalisation from the checkpoint directory exactly as the Backbone that loads the result will.
    tokenizer.save_pretrained(out)
    save_qwen_preprocessor(out, config.sizes)
    family = Qwen2_5_VLFamily(model, out, None)

    def loss_fn(_: torch.Generator) -> dict[str, torch.Tensor]:
        # Batches come from the build's own numpy generator, which drew the tokenizer's texts before them.
        batch = collate([sources.draw(rng) for _ in range(config.batch_size)], tokenizer, family, config.max_tokens)
        return {"loss": model(**batch).loss}

    # The per-tensor AdamW kernel, as the shipped weights were built (see train_loop).
    rows = train_loop(model, loss_fn, config.loop(), name="default VLM", progress=progress, fused=False)
    model.to(torch.bfloat16).save_pretrained(out)  # halves the shipped size; loading upcasts to the chosen dtype
    record = {
        "config": asdict(config),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "train_seconds": round(time.perf_counter() - started, 1),
        "log": [{"step": int(row["step"]), "loss": row["loss"], "lr": row["lr"]} for row in rows],
    }
    (out / "build_config.json").write_text(json.dumps(record, indent=1))
    logger.info("default VLM written to %s (%d parameters)", out, record["parameters"])
    return out
