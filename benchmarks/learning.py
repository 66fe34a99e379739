"""Learning from the fair start, latent vs token: algorithms x tasks x twins x seeds, IQM with 95% CIs (rliable).

    python benchmarks/learning.py                       # PPO, GRPO and A2C x 2 tasks x 2 twins x 5 seeds
    python benchmarks/learning.py --algos ppo --steps 30000 --seeds 0 1 2 3 4
    python benchmarks/learning.py --quick                # what `lam demo` runs

Resumable: finished runs are kept under --out/runs and skipped, and summary.json / summary.md / curves.png are
rebuilt after every run, so the study can span several sittings. The logic lives in :mod:`lam_agents.learning`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages, also from a git worktree

import torch  # noqa: E402

from lam_agents.learning import LearningConfig, format_rows, readme_table, run_study  # noqa: E402


def parse_config(argv: list[str] | None = None) -> tuple[argparse.Namespace, LearningConfig]:
    """The command line and the study it asks for (flags left out keep :class:`LearningConfig`'s defaults)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the demo's configuration (PPO, 3 seeds, small budget)")
    p.add_argument("--algos", nargs="+", default=None, help="e.g. ppo grpo a2c")
    p.add_argument("--tasks", nargs="+", default=None, help="mmrole pcogalign")
    p.add_argument("--action-spaces", nargs="+", default=None, choices=["latent", "token"],
                   help="twins to train (default: both)")
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="environment steps per run")
    p.add_argument("--n-eval", type=int, default=None, help="test prompts per split")
    p.add_argument("--splits", nargs="+", default=None, help="test_id test_ood")
    p.add_argument("--env-kwargs", default="{}", help="env keywords as JSON (e.g. a backbone directory)")
    p.add_argument("--dialogue", action="store_true", help="the whole-dialogue ids (lam/<Task>-Dialogue-<Kind>-v0)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (measure one job at a time)")
    p.add_argument("--out", default=None)
    p.add_argument("--table", action="store_true",
                   help="print the README's results table from --out's summary.json, and run nothing")
    args = p.parse_args(argv)
    overrides = {k: v for k, v in {"algos": args.algos and tuple(args.algos), "tasks": args.tasks and tuple(args.tasks),
                                   "action_spaces": args.action_spaces and tuple(args.action_spaces),
                                   "seeds": args.seeds and tuple(args.seeds), "steps": args.steps,
                                   "n_eval": args.n_eval, "splits": args.splits and tuple(args.splits),
                                   "out": args.out, "env_kwargs": json.loads(args.env_kwargs),
                                   "dialogue": args.dialogue}.items() if v}
    return args, LearningConfig.quick(**overrides) if args.quick else LearningConfig(**overrides)


def main(argv: list[str] | None = None) -> int:
    args, config = parse_config(argv)
    if args.table:
        print(readme_table(json.loads((Path(config.out) / "summary.json").read_text()), config.algos))
        return 0
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Loading weights" bar per run otherwise
    hf_logging.set_verbosity_error()
    rows = run_study(config, command="python " + " ".join(sys.argv))
    print(format_rows(rows))
    print(f"\nwritten to {config.out}/summary.json, summary.md and curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
