"""``lam backbone-report``: perplexity, judged greedy replies and an image-swap check of a backbone."""

from __future__ import annotations

import argparse
from pathlib import Path

from lam_envs.tasks import task_names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backbone-report",
        help="measure a backbone on the synthetic test splits (perplexity, judge ratio, image-swap check)",
    )
    p.add_argument("--backbone", type=Path, default=None, help="checkpoint dir (default: the embedded default)")
    p.add_argument("--n", type=int, default=200, help="samples per task and split")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    p.add_argument("--prompt-style", choices=("compact", "full"), default="compact")
    p.add_argument("--splits", nargs="+", default=["test_id", "test_ood"], choices=["sft", "rl", "test_id", "test_ood"])
    p.add_argument("--tasks", nargs="+", default=list(task_names()), choices=task_names())
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from lam_agents.backbone_report import format_report, split_quality
    from lam_envs.backbone import Backbone, BackboneConfig
    from lam_envs.backbone.default import default_backbone_dir
    from lam_envs.data.types import Split

    torch.manual_seed(args.seed)
    backbone = Backbone(BackboneConfig(args.backbone or default_backbone_dir()))
    rows = [
        split_quality(backbone, task, Split.parse(split), args.n, style=args.prompt_style, seed=args.seed)
        for task in args.tasks
        for split in args.splits
    ]
    print(format_report(rows))
    return 0
