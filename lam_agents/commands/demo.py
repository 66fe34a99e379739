"""``lam demo``: the README's main job on the embedded default.

It shows one sample of each task, then trains PPO from the fair start on the latent and the token twin of both
tasks (3 seeds, a small fixed budget: :meth:`~lam_agents.compare.CompareConfig.quick`), evaluates every run on the
in- and out-of-distribution test splits with the rule judges, and prints the comparison table. Results, the exact
command and a learning-curve PNG are written under ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train and compare latent vs token agents on the embedded default")
    p.add_argument("--out", type=Path, default=Path("lam_demo"), help="where images, runs and results go")
    p.add_argument("--steps", type=int, default=None, help="env steps per run (default: the quick comparison's)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds (default: 0 1 2)")
    p.add_argument("--tasks", nargs="+", default=None, choices=["mmrole", "pcogalign"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from lam_agents.commands import data
    from lam_agents.compare import CompareConfig, run_comparison

    # Each run's full config and log already go to its run.json; on the console the progress bar and the table
    # are the result.
    logging.getLogger("lam_agents").setLevel(logging.WARNING)

    overrides: dict = {"out": str(args.out / "compare")}
    if args.steps is not None:
        overrides["steps"] = args.steps
    if args.seeds is not None:
        overrides["seeds"] = tuple(args.seeds)
    if args.tasks is not None:
        overrides["tasks"] = tuple(args.tasks)
    config = CompareConfig.quick(**overrides)
    for task in config.tasks:
        print(f"\n=== {task}: a sample of the RL split (image saved under {args.out / task}) ===")
        data.run(argparse.Namespace(task=task, n=1, split="rl", seed=0, out=args.out / task, source="synthetic"))
    print(
        f"\n=== PPO from the fair start, latent vs token: {len(config.tasks)} task(s) x 2 action spaces x "
        f"{len(config.seeds)} seeds, {config.steps} env steps each ===",
        flush=True,
    )
    _, table = run_comparison(config)
    print(f"\nJudge ratio vs the reference (1.0 = as good as the reference), mean ± std over seeds:\n\n{table}")
    print(f"\nresults, command and learning curves: {Path(config.out) / 'results.md'}")
    return 0
