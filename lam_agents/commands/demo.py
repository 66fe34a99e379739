"""``lam demo``: the README's main job on the embedded default.

Until the RL parts land it shows what exists end to end: samples of both synthetic tasks (images saved), how the
rule-based judges rank good, bad and gamed replies, and the embedded VLM answering held-out samples of both tasks,
judged, with its image-swap check. Later issues replace it with a latent-vs-token training comparison.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on the embedded default")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    p.add_argument("--n", type=int, default=100, help="held-out samples per task for the judged replies")
    p.add_argument("--out", type=Path, default=Path("lam_demo"), help="where sample images are saved")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lam_agents.commands import data, judge

    for task in ("mmrole", "pcogalign"):
        print(f"\n=== {task}: two samples of the RL split ===")
        data.run(argparse.Namespace(task=task, n=2, split="rl", seed=args.seed, out=args.out / task, source="synthetic"))
        print(f"\n=== {task}: rule-judge self-check ===")
        judge.run(argparse.Namespace(task=task, self_check=True, n=args.n, seed=args.seed))
    _base_vlm(args.n, args.seed)
    return 0


def _base_vlm(n: int, seed: int) -> None:
    from lam_agents.backbone_report import format_report, split_quality
    from lam_envs.backbone import Backbone, BackboneConfig
    from lam_envs.backbone.default import default_backbone_dir
    from lam_envs.data.types import Split

    print("\n=== the embedded VLM (frozen tiny Qwen2.5-VL) answering held-out samples ===")
    backbone = Backbone(BackboneConfig(default_backbone_dir()))
    rows = [split_quality(backbone, task, Split.TEST_ID, n, seed=seed) for task in ("mmrole", "pcogalign")]
    print(format_report(rows))
