"""Time the backbone's prefill and one batched decode step against batch size.

Usage (the exact command behind the table in the report; default backbone: a random tiny Qwen2.5-VL with the
embedded default's sizes, d=256, 4 layers, vision depth 2 width 128, patch 8, 64x64 images -> 16 image tokens,
built on the fly):

    .venv/bin/python benchmarks/backbone_decode.py --seed 0 --threads 2
    .venv/bin/python benchmarks/backbone_decode.py --backbone-dir /path/to/Qwen2.5-VL-3B-Instruct --device cuda \
        --dtype bfloat16

Each row reports medians over ``--repeats`` timed calls after ``--warmup`` untimed ones: prefill of B fresh contexts
(each with an image and a short dialogue), and one ``Backbone.step`` (one token for each of the B rows, KV cache
included) plus the LM head. Tokens/s counts prompt tokens for prefill and generated tokens (B per step) for decode.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from lam_envs.backbone import Backbone, BackboneConfig, Context
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/timing.py, also when loaded by path
from timing import git_commit, median_seconds  # noqa: E402
from lam_envs.builders.tiny import build_tiny_qwen2_5_vl, default_corpus


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone-dir", type=Path, default=None, help="checkpoint dir; default: build a tiny Qwen")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32, 64])
    parser.add_argument("--repeats", type=int, default=30, help="timed decode steps per batch size")
    parser.add_argument("--prefill-repeats", type=int, default=5, help="timed prefills per batch size")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before timing")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--text-only", action="store_true", help="contexts without images")
    parser.add_argument("--seed", type=int, default=0, help="seeds the tiny model, images and prompts")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser.parse_args(argv)


def make_contexts(batch: int, image_size: int, text_only: bool, rng: np.random.Generator) -> list[Context]:
    """B contexts with seeded noise images and prompts of varied length (so rows are left-padded)."""
    sentences = default_corpus(int(rng.integers(1 << 31)), n_sentences=2 * batch)
    contexts = []
    for i in range(batch):
        image = None
        if not text_only:
            image = Image.fromarray(rng.integers(0, 256, (image_size, image_size, 3), dtype=np.uint8))
        contexts.append(Context(image, [("system", sentences[2 * i]), ("user", sentences[2 * i + 1])]))
    return contexts






def run(args: argparse.Namespace, backbone_dir: Path) -> list[dict[str, float]]:
    backbone = Backbone(BackboneConfig(backbone_dir, dtype=args.dtype, device=args.device))
    rng = np.random.default_rng(args.seed)
    rows = []
    for batch in args.batch_sizes:
        contexts = make_contexts(batch, backbone.image_size, args.text_only, rng)
        prompt_tokens = sum(len(backbone.encode(c)) for c in contexts)
        prefill_s = median_seconds(lambda: backbone.prefill(contexts), backbone.device, args.prefill_repeats, 1)
        state = backbone.prefill(contexts)
        tokens = backbone.lm_head(state.h).argmax(-1)

        def one_step() -> None:
            backbone.lm_head(backbone.step(state, tokens))

        step_s = median_seconds(one_step, backbone.device, args.repeats, args.warmup)
        rows.append(
            {
                "batch": batch,
                "prompt_tokens_per_row": prompt_tokens / batch,
                "prefill_ms": 1e3 * prefill_s,
                "prefill_tokens_per_s": prompt_tokens / prefill_s,
                "step_ms": 1e3 * step_s,
                "decode_tokens_per_s": batch / step_s,
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> list[dict[str, float]]:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        backbone_dir = args.backbone_dir or build_tiny_qwen2_5_vl(Path(tmp) / "tiny_qwen", seed=args.seed)
        rows = run(args, backbone_dir)
    print(f"argv: {' '.join(sys.argv if argv is None else ['backbone_decode.py', *argv])}")
    print(
        f"seed {args.seed} | commit {git_commit()} | torch {torch.__version__} | {args.device} {args.dtype} | "
        f"threads {torch.get_num_threads()} | {platform.processor() or platform.machine()} | "
        f"backbone {args.backbone_dir or 'tiny Qwen2.5-VL (default sizes)'} | images {not args.text_only}"
    )
    print("| batch | prompt tok/row | prefill ms | prefill tok/s | step ms | decode tok/s |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['batch']} | {r['prompt_tokens_per_row']:.0f} | {r['prefill_ms']:.1f} | "
            f"{r['prefill_tokens_per_s']:.0f} | {r['step_ms']:.2f} | {r['decode_tokens_per_s']:.0f} |"
        )
    if args.json is not None:
        args.json.write_text(json.dumps({"argv": argv, "seed": args.seed, "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
