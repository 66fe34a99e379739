"""``lam build-default``: rebuild the embedded default assets from scratch, deterministically."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build-default",
        help="rebuild the embedded default VLM (tokenizer + tiny Qwen2.5-VL) from the synthetic data",
        description="Train the embedded default VLM from scratch (about 15 minutes on 2 CPU cores). Writes into the "
        "installed package unless --out is given.",
    )
    p.add_argument("--out", type=Path, default=None, help="output directory (default: the package's asset dir)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default: the shipped config's)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from lam_envs.backbone.default import default_backbone_dir
    from lam_envs.builders.default_vlm import DefaultVLMConfig, build_default_vlm

    config = DefaultVLMConfig(seed=args.seed, threads=args.threads)
    if args.steps is not None:
        config = dataclasses.replace(config, steps=args.steps)
    out = args.out or default_backbone_dir()
    print(f"building the default VLM into {out} with {config}")
    started = time.perf_counter()
    build_default_vlm(out, config)
    print(f"done in {time.perf_counter() - started:.0f} s: {out}")
    return 0
