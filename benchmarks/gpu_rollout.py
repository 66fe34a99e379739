"""Env steps/s of the latent and token envs on a Qwen2.5-VL-3B-sized backbone, against HF ``generate`` tokens/s.

**The GPU tier is unmeasured**: this script was written and tested on CPU at ``--size tiny`` before any GPU was
available; nobody has run ``--size 3b`` on a GPU yet. Its first GPU run is its first real result.

Usage (the exact commands; seeds fixed):

    .venv/bin/python benchmarks/gpu_rollout.py --device cuda --dtype bfloat16 --size 3b --envs 8 32 64 \
        --json benchmarks/results/gpu_rollout_3b.json
    .venv/bin/python benchmarks/gpu_rollout.py --device cpu --size tiny     # smoke run, seconds

The backbone is built from a config with random weights (no download): Qwen2.5-VL-3B-Instruct's text and vision
sizes (``--size 3b``: d=2048, 36 layers, 16 heads / 2 KV heads, MLP 11008, vocabulary 151936; vision depth 32, width
1280, patch 14, windowed attention of 112 px with full attention in blocks 7/15/23/31) on fixed 448x448 images
(256 image tokens), or :data:`lam_envs.builders.tiny.UNIT_TEST_SIZES` (``--size tiny``). The tokenizer is the tiny
builders' small BPE one: the LM head keeps the real 151936 rows (its cost is the real one; ids past the tokenizer
decode to nothing, as the padding rows of the real checkpoint do). The weights are initialised directly on
``--device`` in ``--dtype`` and saved once (about 7.5 GB for 3b), so the envs load it as ``backbone=<dir>`` like any
checkpoint; the latent model is a random K=128 one (a trained one has the same shapes, hence the same speed).

For every N in ``--envs``, on the same synthetic MMRole RL prompts and ``--reply-tokens`` long replies:

* ``env latent`` / ``env token``: ``gym.make_vec(id, num_envs=N)`` stepped with uniformly random actions, autoresets,
  judging and the host round trip included; median over ``--repeats`` blocks of ``--steps`` steps after one untimed
  block. In the same blocks the backbone's ``prefill`` (autoreset prompts) and ``step`` calls are timed, giving the
  share of env time spent in prefill, in decode and elsewhere (heads, sampling, judging, Python). The timers
  synchronise the GPU after each call; the env already copies every step's embeddings to the host, so they add no
  wait of their own.
* ``HF generate``: ``model.generate`` on the same N prompts, greedy, exactly ``--reply-tokens`` new tokens per row
  (``min_new_tokens`` keeps EOS away), prefill included; tokens/s = N x reply tokens / time. A 1-token ``generate``
  gives its prefill time.
* ``backbone``: one batched ``prefill`` of the N prompts and one ``step`` + LM head, and the prefill share of an
  episode (prefill / (prefill + reply tokens x step)).
* peak memory: ``torch.cuda.max_memory_allocated`` over each N's measurements (weights included); on CPU the
  process's peak RSS so far (it only grows).

The ratio that matters is env steps/s over HF generate tokens/s at 64 envs (target >= 0.8): an env step is one token
for each of N rows, so both count generated tokens. GPU time is timed with ``torch.cuda.synchronize``.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

import lam_envs  # noqa: F401  (registers the ids)
from lam_envs.backbone import Backbone
from lam_envs.builders.tiny import (
    UNIT_TEST_SIZES,
    TinyQwenSizes,
    default_corpus,
    save_qwen_preprocessor,
    tiny_qwen2_5_vl_config,
    train_qwen_tokenizer,
)
from lam_envs.envs.config import ConversationConfig
from lam_envs.envs.prompting import contexts_for
from lam_envs.envs.resolve import resolve_backbone, resolve_samples
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/timing.py, also when loaded by path
from timing import git_commit, machine, median_seconds, sync  # noqa: E402

ENV_IDS = {"latent": "lam/MMRole-Latent-v0", "token": "lam/MMRole-Token-v0"}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Preset:
    """A backbone size: the tiny builders' sizes plus what they do not cover.

    Attributes:
        sizes: Text and vision sizes (the tokenizer is trained to ``sizes.vocab_size``).
        lm_vocab_size: LM-head rows; ``None`` keeps the tokenizer's size.
        vision_window_px: Vision attention window in pixels; ``None`` keeps the builder's (the whole image).
        vision_full_attention_blocks: Vision blocks with full attention; ``None`` keeps the builder's (the last).
        rope_theta: Text rotary base; ``None`` keeps the builder's.
    """

    sizes: TinyQwenSizes
    lm_vocab_size: int | None = None
    vision_window_px: int | None = None
    vision_full_attention_blocks: tuple[int, ...] | None = None
    rope_theta: float | None = None


QWEN2_5_VL_3B = Preset(
    sizes=TinyQwenSizes(
        hidden_size=2048,
        num_layers=36,
        num_heads=16,
        num_kv_heads=2,
        intermediate_size=11008,
        vision_depth=32,
        vision_hidden_size=1280,
        vision_heads=16,
        vision_intermediate_size=3420,
        patch_size=14,
        image_size=448,
        vocab_size=2000,
        initializer_range=0.02,
    ),
    lm_vocab_size=151936,
    vision_window_px=112,
    vision_full_attention_blocks=(7, 15, 23, 31),
    rope_theta=1_000_000.0,
)
"""Qwen2.5-VL-3B-Instruct's sizes (its config.json), at a fixed 448 px image side (256 image tokens)."""

PRESETS = {"tiny": Preset(UNIT_TEST_SIZES), "3b": QWEN2_5_VL_3B}
SIZE_DEFAULTS: dict[str, dict[str, Any]] = {
    "3b": {"envs": [8, 32, 64], "steps": 128, "repeats": 2, "reply_tokens": 64, "prompt_style": "full"},
    "tiny": {"envs": [2, 4, 8], "steps": 8, "repeats": 1, "reply_tokens": 8, "prompt_style": "compact"},
}
"""Defaults per ``--size`` (flags given explicitly win): ``tiny`` is a smoke run of every code path in seconds."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bfloat16")
    parser.add_argument("--size", choices=sorted(PRESETS), default="3b")
    parser.add_argument("--envs", type=int, nargs="+", help="env counts (batch sizes); 3b: 8 32 64, tiny: 2 4 8")
    parser.add_argument("--steps", type=int, help="env steps per timed block; 3b: 128, tiny: 8")
    parser.add_argument("--repeats", type=int, help="timed blocks (env) and calls (prefill, generate); 3b: 2, tiny: 1")
    parser.add_argument("--reply-tokens", type=int, help="max_reply_tokens of the envs, generate length; 3b: 64, tiny: 8")
    parser.add_argument("--num-codes", type=int, default=128, help="K of the random latent model")
    parser.add_argument("--prompt-style", choices=["compact", "full"], help="3b: full, tiny: compact")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="keep the random checkpoints here and reuse them on the next run (default: a temp dir)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights, the envs and the actions")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    for name, value in SIZE_DEFAULTS[args.size].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("steps", "repeats", "reply_tokens", "num_codes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be at least 1")
    if min(args.envs) < 1:
        parser.error(f"--envs {args.envs}: every count must be at least 1")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device} but CUDA is not available here; pass --device cpu (and --size tiny)")
    if device.type not in ("cpu", "cuda"):
        parser.error(f"--device {args.device}: use cpu or cuda[:N]")
    return args


# ------------------------------------------------------------------------------------------------- checkpoints
def preset_config(preset: Preset, seed: int) -> tuple[Any, Any]:
    """The preset's Qwen2.5-VL config and the tokenizer whose special ids it uses."""
    tokenizer = train_qwen_tokenizer(default_corpus(seed), preset.sizes.vocab_size)
    config = tiny_qwen2_5_vl_config(preset.sizes, tokenizer)
    text, vision = config.get_text_config(), config.vision_config
    if preset.lm_vocab_size is not None:
        if preset.lm_vocab_size < len(tokenizer):
            raise ValueError(f"lm_vocab_size={preset.lm_vocab_size} is below the tokenizer's {len(tokenizer)} tokens")
        text.vocab_size = preset.lm_vocab_size
    if preset.rope_theta is not None:
        text.rope_parameters = {**text.rope_parameters, "rope_theta": preset.rope_theta}
    if preset.vision_window_px is not None:
        vision.window_size = preset.vision_window_px
    if preset.vision_full_attention_blocks is not None:
        vision.fullatt_block_indexes = list(preset.vision_full_attention_blocks)
    return config, tokenizer


def build_backbone(out: Path, preset: Preset, device: torch.device, dtype: str, seed: int) -> Path:
    """Write a random checkpoint of ``preset``'s sizes, its weights initialised on ``device`` in ``dtype``.

    Not :func:`lam_envs.builders.tiny.build_tiny_qwen2_5_vl`: that one initialises in float32 on the CPU, which for
    3B parameters is minutes and 12 GB of host memory; the pieces (tokenizer, config, preprocessor) are its own.
    """
    from transformers import Qwen2_5_VLForConditionalGeneration

    if (out / "config.json").is_file():
        return out
    config, tokenizer = preset_config(preset, seed)
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=DTYPES[dtype])
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    save_qwen_preprocessor(out, preset.sizes)
    del model
    free(device)
    return out


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------------------------------- timing




class CallTimer:
    """Wraps a backbone's ``prefill`` and ``step`` (on the instance) to add up their synchronised wall time."""

    def __init__(self, backbone: Backbone) -> None:
        self.backbone, self.seconds = backbone, {"prefill": 0.0, "step": 0.0}
        self._originals = {name: getattr(backbone, name) for name in self.seconds}

    def _wrap(self, name: str) -> Callable[..., Any]:
        original, device = self._originals[name], self.backbone.device

        def timed(*args: Any, **kwargs: Any) -> Any:
            sync(device)
            start = time.perf_counter()
            out = original(*args, **kwargs)
            sync(device)
            self.seconds[name] += time.perf_counter() - start
            return out

        return timed

    def __enter__(self) -> CallTimer:
        for name in self.seconds:
            setattr(self.backbone, name, self._wrap(name))
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.seconds:
            delattr(self.backbone, name)  # back to the class's methods


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


# ------------------------------------------------------------------------------------------------- measurements
def env_rate(env_id: str, n: int, kwargs: dict[str, Any], args: argparse.Namespace, backbone: Backbone) -> dict:
    """Env steps/s of ``n`` vector rows with random actions, and the share of time in prefill and decode."""
    envs = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    try:
        if envs.unwrapped.parts.backbone is not backbone:
            raise RuntimeError("the envs loaded their own backbone: the call timers would see nothing")
        envs.reset(seed=args.seed)
        rng = np.random.default_rng(args.seed)
        actions = rng.integers(envs.single_action_space.n, size=(args.steps, n))

        def block() -> None:
            for a in actions:
                envs.step(a)

        block()  # warm-up: first prefill, allocator, autoresets
        rates, shares = [], []
        for _ in range(args.repeats):
            with CallTimer(backbone) as timer:
                sync(backbone.device)
                start = time.perf_counter()
                block()
                sync(backbone.device)
                seconds = time.perf_counter() - start
            rates.append(args.steps * n / seconds)
            shares.append({k: v / seconds for k, v in timer.seconds.items()})
    finally:
        envs.close()
    best = int(np.argsort(rates)[len(rates) // 2])  # the median block's split
    split = shares[best]
    return {"steps_per_s": statistics.median(rates), "prefill_share": split["prefill"],
            "decode_share": split["step"], "other_share": max(0.0, 1.0 - split["prefill"] - split["step"])}


def hf_inputs(backbone: Backbone, contexts: list) -> dict[str, torch.Tensor]:
    """Left-padded inputs for transformers' own ``generate`` (with Qwen's ``mm_token_type_ids``)."""
    ids = [backbone.encode(c) for c in contexts]
    length = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), length), backbone.pad_token_id)
    mask = torch.zeros((len(ids), length), dtype=torch.long)
    for row, x in enumerate(ids):
        input_ids[row, length - len(x):] = torch.tensor(x)
        mask[row, length - len(x):] = 1
    inputs = {"input_ids": input_ids, "attention_mask": mask,
              "mm_token_type_ids": (input_ids == backbone.family.image_token_id).int()}
    images = [c.image for c in contexts if c.image is not None]
    if images:
        inputs.update(backbone.family.pixel_inputs(images))
    inputs = {k: v.to(backbone.device) for k, v in inputs.items()}
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(backbone.dtype)
    return inputs


def generate_rate(backbone: Backbone, contexts: list, args: argparse.Namespace) -> dict[str, float]:
    """HF ``generate`` tokens/s for exactly ``--reply-tokens`` greedy tokens per row, and its prefill time."""
    inputs = hf_inputs(backbone, contexts)
    pad = backbone.pad_token_id

    def generate(tokens: int) -> Callable[[], object]:
        def call() -> object:
            with torch.inference_mode():
                return backbone.model.generate(**inputs, max_new_tokens=tokens, min_new_tokens=tokens,
                                               do_sample=False, pad_token_id=pad)
        return call

    out = generate(args.reply_tokens)()
    new = out.shape[1] - inputs["input_ids"].shape[1]
    if new != args.reply_tokens:
        raise RuntimeError(f"generate wrote {new} tokens per row, not {args.reply_tokens}")
    total = median_seconds(generate(args.reply_tokens), backbone.device, args.repeats)
    first = median_seconds(generate(1), backbone.device, args.repeats)
    return {"tokens_per_s": len(contexts) * args.reply_tokens / total, "seconds": total, "prefill_s": first,
            "prefill_share": min(1.0, first / total)}


def backbone_split(backbone: Backbone, contexts: list, args: argparse.Namespace) -> dict[str, float]:
    """One batched prefill and one decode step (+ LM head), and the prefill share of a full-length episode."""
    prefill_s = median_seconds(lambda: backbone.prefill(contexts), backbone.device, args.repeats)
    state = backbone.prefill(contexts)
    tokens = backbone.lm_head(state.h).argmax(-1)
    steps = max(1, min(8, (backbone.config.max_context_tokens - state.length) // 2))  # two calls below

    def decode() -> None:  # a few steps per call: one step is too short to time alone on a GPU
        for _ in range(steps):
            backbone.lm_head(backbone.step(state, tokens))

    step_s = median_seconds(decode, backbone.device, 1) / steps
    episode = prefill_s + args.reply_tokens * step_s
    return {"prefill_ms": 1e3 * prefill_s, "step_ms": 1e3 * step_s, "episode_prefill_share": prefill_s / episode}


def run(args: argparse.Namespace, backbone_dir: Path, latent_dir: Path) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "backbone": str(backbone_dir),
        "latent_model": str(latent_dir),
        "device": args.device,
        "dtype": args.dtype,
        "num_samples": max(args.envs),
        "max_reply_tokens": args.reply_tokens,
        "prompt_style": args.prompt_style,
        "data_seed": args.seed,
    }
    config = ConversationConfig(**kwargs)
    backbone, _ = resolve_backbone(config)  # the instance the envs will share (cached by its config)
    samples = resolve_samples("mmrole", config)
    device = backbone.device
    rows = []
    for n in args.envs:
        contexts = contexts_for(samples[:n], args.prompt_style)
        free(device)
        reset_peak(device)
        row: dict[str, Any] = {"num_envs": n, "prompt_tokens_per_row": statistics.mean(len(backbone.encode(c))
                                                                                      for c in contexts)}
        row["backbone"] = backbone_split(backbone, contexts, args)
        row["generate"] = generate_rate(backbone, contexts, args)
        for kind, env_id in ENV_IDS.items():
            row[kind] = env_rate(env_id, n, kwargs, args, backbone)
            row[f"{kind}_over_generate"] = row[kind]["steps_per_s"] / row["generate"]["tokens_per_s"]
        row["peak_memory_gib"] = peak_memory_gib(device)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return {"rows": rows, "num_parameters": sum(p.numel() for p in backbone.model.parameters()),
            "vocab_size": backbone.vocab_size, "image_tokens": backbone.num_image_tokens}


# ------------------------------------------------------------------------------------------------- report




def report(args: argparse.Namespace, argv: Sequence[str], result: dict[str, Any]) -> None:
    print(f"command: {result['command']}")
    print(f"machine: {result['machine']} | threads {result['threads']} | commit {result['commit']}")
    print(f"seed {args.seed} | torch {torch.__version__} | {args.device} {args.dtype} | size {args.size} "
          f"({result['num_parameters'] / 1e6:,.1f}M parameters, vocab {result['vocab_size']}, "
          f"{result['image_tokens']} image tokens) | reply tokens {args.reply_tokens} | prompts {args.prompt_style}")
    memory = "peak GiB" if torch.device(args.device).type == "cuda" else "peak RSS GiB"
    print(f"| N | prompt tok | HF generate tok/s | env latent steps/s | env token steps/s | latent / generate "
          f"| token / generate | prefill ms | step ms | env prefill / decode / other (latent) | HF prefill share "
          f"| {memory} |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in result["rows"]:
        lat, b = r["latent"], r["backbone"]
        print(
            f"| {r['num_envs']} | {r['prompt_tokens_per_row']:.0f} | {r['generate']['tokens_per_s']:.0f} | "
            f"{lat['steps_per_s']:.0f} | {r['token']['steps_per_s']:.0f} | {r['latent_over_generate']:.2f} | "
            f"{r['token_over_generate']:.2f} | {b['prefill_ms']:.1f} | {b['step_ms']:.2f} | "
            f"{lat['prefill_share']:.0%} / {lat['decode_share']:.0%} / {lat['other_share']:.0%} | "
            f"{r['generate']['prefill_share']:.0%} | {r['peak_memory_gib']:.2f} |"
        )
    at64 = [r for r in result["rows"] if r["num_envs"] == 64]
    if at64:
        r = at64[0]
        print(f"env / HF generate at 64 envs: latent {r['latent_over_generate']:.2f}, token "
              f"{r['token_over_generate']:.2f} (target >= 0.8)")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from lam_envs.latent.model import random_latent_model

    device = torch.device(args.device)
    preset = PRESETS[args.size]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.build_dir or Path(tmp)
        started = time.perf_counter()
        backbone_dir = build_backbone(root / f"qwen2_5_vl_{args.size}_{args.dtype}_s{args.seed}", preset, device,
                                      args.dtype, args.seed)
        latent_dir = root / f"latent_{args.size}_k{args.num_codes}_s{args.seed}"
        if not (latent_dir / "config.json").is_file():
            backbone, _ = resolve_backbone(ConversationConfig(backbone=str(backbone_dir), device=args.device,
                                                              dtype=args.dtype))
            random_latent_model(backbone, num_codes=args.num_codes, seed=args.seed).save_pretrained(latent_dir)
        build_s = time.perf_counter() - started
        result = run(args, backbone_dir, latent_dir)
    result.update({
        "command": shlex.join(["python", "benchmarks/gpu_rollout.py", *argv]),
        "argv": argv,
        "machine": machine(device),
        "threads": torch.get_num_threads(),
        "commit": git_commit(),
        "torch": torch.__version__,
        "device": args.device,
        "dtype": args.dtype,
        "size": args.size,
        "preset": asdict(preset),
        "seed": args.seed,
        "build_s": build_s,
        "peak_memory_kind": "cuda_max_allocated" if device.type == "cuda" else "cpu_max_rss_process",
        "measured_on_gpu": device.type == "cuda",
    })
    report(args, argv, result)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, allow_nan=False, default=str))
    return result


if __name__ == "__main__":
    main()
