"""``lam eval``: judge ratios per dimension and in total on the test splits, mean ± std over samples per prompt."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained agent on the in-distribution and OOD test splits")
    p.add_argument("--model", required=True, help="run directory written by `lam train` (or a checkpoint .zip)"
                   "; SB3 unpickles model.zip (cloudpickle), so load only runs you trust")
    p.add_argument("--env", default=None, help="env id (default: the one it was trained on)")
    p.add_argument("--split", nargs="+", default=["test_id", "test_ood"], help="splits to score")
    p.add_argument("--n", type=int, default=50, help="prompts per split")
    p.add_argument("--samples-per-prompt", type=int, default=3, help="sampled replies per prompt (rounds)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deterministic", action="store_true", help="greedy actions instead of sampled ones")
    p.add_argument("--json", type=Path, default=None, help="also write the scores to this JSON file")
    p.add_argument("--judge-api-key-env", default=None, metavar="NAME",
                   help="environment variable holding the LLM judge's key (default: the one the run recorded)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lam_agents.evaluate import evaluate_run, format_scores

    rows = evaluate_run(args.model, args.env, args.split, args.n, args.samples_per_prompt, args.seed,
                        args.deterministic, judge_api_key_env=args.judge_api_key_env)
    print(format_scores(rows))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 0
