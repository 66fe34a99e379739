"""``lam demo``: the README's main job on the embedded default.

Until the RL parts exist it shows both synthetic tasks and how the judges rank replies; later it trains and
compares latent vs token agents.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on the embedded default")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lam_agents.commands import data, judge

    for task in ("mmrole", "pcogalign"):
        data.run(argparse.Namespace(task=task, n=2, split="rl", seed=args.seed, out=None, source="synthetic"))
        judge.run(argparse.Namespace(task=task, self_check=True, n=200, seed=args.seed))
    return 0
