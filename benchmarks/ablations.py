"""The paper's latent-model ablations at full embedded scale, each pretrained and then trained with latent PPO.

    python benchmarks/ablations.py                                   # every variant, both tasks, 5 seeds
    python benchmarks/ablations.py --variants no_cycle k32 --seeds 0 1 2

A variant is the shipped pretraining (``lam pretrain``'s defaults: K = 128, projector, cycle loss, text-only data)
with one thing taken away or the codebook resized. For each variant the script

1. pretrains it with ``lam pretrain --out <out>/runs/<variant> --resume <flags>`` (the shipped ``full`` model is not
   retrained: it is the package's default, rebuilt byte-identically by ``lam pretrain`` with no flags);
2. measures its codebook on held-out pretraining data (``lam latent report``'s token metrics: code perplexity, dead
   codes, next-token accuracy with inverse and with prior codes);
3. trains fair-start PPO on the latent twin of each task with that model (:mod:`lam_agents.learning`, the settings of
   ``benchmarks/learning.py``'s study, so that ``full`` is read from that study's finished runs instead of being run
   twice) and scores it on test_id and test_ood before and after.

Resumable at every level: a finished pretraining stage, a measured codebook (``usage.json``) and a finished PPO run
are kept and skipped, and ``ablations.json`` / ``ablations.md`` are rewritten after each step, so the script can
span several sittings. The paper's numbers (arXiv 2601.07516, its ablation table: an overall task score of the full
method and of each ablation) are printed beside ours for orientation; they are a different metric on the real
datasets with a 3B VLM, so only the ordering can be compared.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's packages, also from a git worktree

import torch  # noqa: E402

from lam_agents.learning import LearningConfig, run_name, run_settings, run_study, summarize  # noqa: E402
from lam_agents.run_dir import write_json_atomic  # noqa: E402
from lam_envs.tasks import task_names  # noqa: E402

VARIANTS: dict[str, list[str]] = {
    "full": [],
    "no_projector": ["--no-projector"],
    "no_cycle": ["--no-cycle"],
    "no_text_only": ["--no-text-only"],
    "k32": ["--num-codes", "32"],
    "k512": ["--num-codes", "512"],
}
"""Variant name -> ``lam pretrain`` flags (``full`` is the shipped default)."""

PAPER = {"full": 0.893, "no_cycle": 0.870, "no_projector": 0.880, "no_text_only": 0.865}
"""The paper's ablation scores (its own metric; no K ablation is reported as a single number)."""

STUDY = REPO / "benchmarks" / "results" / "learning"
"""The main learning study, whose PPO latent runs are the ``full`` row."""


def model_dir(out: Path, variant: str) -> Path | None:
    """The variant's latent model directory (``None``: the shipped default)."""
    return None if variant == "full" else out / "runs" / variant / "final"


def pretrain(out: Path, variant: str, threads: int, scale: float) -> None:
    """Run (or resume) ``lam pretrain`` for ``variant`` unless its final model exists."""
    final = model_dir(out, variant)
    if final is None or (final / "model.safetensors").is_file():
        return
    cmd = [sys.executable, "-m", "lam_agents.cli", "pretrain", "--out", str(final.parent), "--resume",
           "--no-progress", "--threads", str(threads), "--scale", str(scale), *VARIANTS[variant]]
    print("+", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


@functools.lru_cache(maxsize=1)
def heldout_features(n_examples: int) -> tuple[Any, Any, Any]:
    """The embedded backbone and its held-out paired and text-only features, computed once for every variant."""
    import dataclasses

    from lam_envs.backbone import Backbone, BackboneConfig
    from lam_envs.backbone.default import default_backbone_dir
    from lam_envs.latent.features import extract_features
    from lam_envs.latent.pipeline import PretrainDataConfig, heldout_examples

    backbone = Backbone(BackboneConfig(default_backbone_dir()))
    data = dataclasses.replace(PretrainDataConfig(), seed=0)
    paired_ex, text_ex = heldout_examples(data, n_examples, n_examples)
    paired = extract_features(backbone, paired_ex, with_text_twin=True, max_answer_tokens=data.max_answer_tokens)
    text = extract_features(backbone, text_ex, max_answer_tokens=data.max_answer_tokens)
    return backbone, paired, text


def usage(out: Path, variant: str, n_examples: int, tasks: list[str], n_judged: int) -> dict[str, Any]:
    """Codebook usage and next-token accuracies of the variant on held-out data, and the judge ratio of its greedy
    prior-code replies on each task's test_id (``lam latent report``'s measures; cached in ``usage/<variant>.json``)."""
    from lam_envs.backbone import Backbone, BackboneConfig
    from lam_envs.backbone.default import default_backbone_dir
    from lam_envs.latent.model import LatentActionModel, default_latent_dir
    from lam_envs.latent.report import judged_replies, token_metrics
    from lam_envs.tasks import task_spec

    path = out / "usage" / f"{variant}.json"
    versions = {task: task_spec(task).rule_judge_version for task in tasks}
    row = json.loads(path.read_text()) if path.is_file() else None
    # A task's judged replies are kept while its rule judge is the one that scored them (version 1 when unrecorded).
    kept = {task: ratio for task, ratio in (row or {}).get("prior_reply_ratio", {}).items()
            if (row or {}).get("rule_judge_versions", {}).get(task, 1) == versions[task]}
    if row is not None and all(task in kept for task in tasks):
        return row
    backbone = heldout_features(n_examples)[0] if row is None else Backbone(BackboneConfig(default_backbone_dir()))
    model = LatentActionModel.from_pretrained(model_dir(out, variant) or default_latent_dir(), device=backbone.device)
    if row is None:  # measure the codebook; otherwise it stands and only the judged replies are redone
        _, paired, text = heldout_features(n_examples)
        m = token_metrics(model, backbone, paired, text)
        row = {"num_codes": model.num_codes, "code_perplexity": m.code_perplexity, "dead_codes": m.dead_codes,
               "acc_inverse": m.acc_inverse, "acc_prior": m.acc_prior, "acc_base": m.acc_base, "tokens": m.tokens}
    row["prior_reply_ratio"] = kept
    for task in tasks:  # greedy prior-code replies, judged: the model's task score before any RL
        if task not in kept:
            judged = judged_replies(model, backbone, task, "test_id", n_judged, seed=0)
            row["prior_reply_ratio"][task] = {"n": judged.n, "prior": judged.ratio_prior, "base": judged.ratio_base}
    row["rule_judge_versions"] = {**row.get("rule_judge_versions", {}), **versions}
    write_json_atomic(path, row)
    return row


def study_config(out: Path, variant: str, args: argparse.Namespace) -> LearningConfig:
    """Latent PPO on every task with the variant's model, at the main study's settings."""
    latent = model_dir(out, variant)
    env_kwargs = {} if latent is None else {"latent_model": _shown(latent)}
    return LearningConfig(tasks=tuple(args.tasks), algos=("ppo",), action_spaces=("latent",), seeds=tuple(args.seeds),
                          steps=args.steps, n_eval=args.n_eval, env_kwargs=env_kwargs,
                          out=_shown(STUDY if latent is None else out / variant))


def _shown(path: Path) -> str:
    """``path`` relative to the checkout where it lies inside it (so that results name no machine's paths)."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def learning_rows(out: Path, variant: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The variant's summary rows: run (or resume) its study; ``full`` only reads the main study's runs."""
    config = study_config(out, variant, args)
    if variant != "full":
        return run_study(config, command="python " + " ".join(sys.argv), progress=True)
    results = []
    for task in config.tasks:
        for seed in config.seeds:
            path = STUDY / "results" / f"{run_name(task, 'ppo', 'latent', seed)}.json"
            if not path.is_file():
                raise SystemExit(f"{path} is missing: run benchmarks/learning.py --algos ppo first (the full row)")
            result = json.loads(path.read_text())
            if result.get("settings") != run_settings(config, task):
                raise SystemExit(f"{path} was made with other settings than --steps/--n-eval here; rerun the study")
            results.append(result)
    return summarize(results, config)


LABELS = {"full": "full", "no_projector": "no projector", "no_cycle": "no cycle loss",
          "no_text_only": "no text-only data", "k32": "K = 32", "k512": "K = 512"}
"""Variant name -> its row label in the tables (the README's)."""

TASK_LABELS = {"mmrole": "MMRole", "pcogalign": "PCogAlign"}


def _ci(lo: float, hi: float, value: float) -> str:
    """``value [lo, hi]``, bold where the CI excludes 0 (the README's convention)."""
    cell = f"{value:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    return f"**{cell}**" if lo > 0 or hi < 0 else cell


def usage_table(table: dict[str, dict[str, Any]]) -> list[str]:
    """The codebook table: one row per measured variant, with the paper's score beside it."""
    tasks = sorted({t for v in table.values() for t in v.get("usage", {}).get("prior_reply_ratio", {})})
    head = ("| variant | K | code perplexity | dead codes | next-token acc., inverse / prior codes |"
            + "".join(f" {TASK_LABELS.get(t, t)} prior-code replies |" for t in tasks) + " paper |")
    lines = [head, "|---|---:|---:|---:|---|" + "---:|" * len(tasks) + "---:|"]
    for variant, entry in table.items():
        u = entry.get("usage")
        if not u:
            continue
        judged = u.get("prior_reply_ratio", {})
        cells = [LABELS.get(variant, variant), str(u["num_codes"]), f"{u['code_perplexity']:.1f}", str(u["dead_codes"]),
                 f"{u['acc_inverse']:.3f} / {u['acc_prior']:.3f}"]
        cells += [f"{judged[t]['prior']:.3f}" if t in judged else "" for t in tasks]
        cells.append(f"{PAPER[variant]:.3f}" if variant in PAPER else "")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def rl_table(table: dict[str, dict[str, Any]]) -> list[str]:
    """The RL table: per variant and task, test_id start -> final and the improvement on both splits."""
    tasks = sorted({r["task"] for v in table.values() for r in v.get("rows", [])})
    head = "| variant |"
    for t in tasks:
        name = TASK_LABELS.get(t, t)
        head += f" {name} test_id start → final | {name} improvement [95% CI] | {name} test_ood improvement [95% CI] |"
    lines = [head, "|---|" + "---|---|---|" * len(tasks)]
    for variant, entry in table.items():
        rows = {(r["task"], r["split"]): r for r in entry.get("rows", [])}
        if not rows:
            if entry.get("usage"):
                lines.append(f"| {LABELS.get(variant, variant)} | not yet trained |" + " |" * (3 * len(tasks) - 1))
            continue
        cells = [LABELS.get(variant, variant)]
        for t in tasks:
            ident, ood = rows.get((t, "test_id")), rows.get((t, "test_ood"))
            cells.append("" if ident is None else
                         f"{ident['start_iqm']:.3f} → {ident['final_iqm']:.3f} (n={len(ident['seeds'])})")
            cells += ["" if r is None else _ci(*r["improvement_ci"], r["improvement_iqm"]) for r in (ident, ood)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_tables(out: Path, table: dict[str, dict[str, Any]], command: str) -> None:
    """``ablations.json`` (every variant's usage and summary rows) and ``ablations.md`` (the README's two tables)."""
    write_json_atomic(out / "ablations.json", table)
    md = (f"# Latent-model ablations\n\nCommand: `{command}`\n\nEach variant is pretrained with `lam pretrain` "
          "(its flags in `benchmarks/ablations.py:VARIANTS`). Codebook usage is measured on held-out pretraining "
          "data; prior-code replies are greedy replies decoded with the prior's most likely code, rule-judged on "
          "test_id (the model before any RL). The paper's column is its own score on the real data, for the "
          "ordering only.\n\n" + "\n".join(usage_table(table)) + "\n\nLatent PPO from the fair start (IQM over "
          "seeds, 95% stratified-bootstrap CIs, rliable; bold: the CI excludes 0):\n\n" + "\n".join(rl_table(table))
          + "\n\nEvery statistic: `ablations.json`.\n")
    (out / "ablations.md").write_text(md)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--tasks", nargs="+", default=list(task_names()), choices=list(task_names()))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--steps", type=int, default=20_000, help="env steps per PPO run (the main study's)")
    p.add_argument("--n-eval", type=int, default=24, help="test prompts per split (the main study's)")
    p.add_argument("--pretrain-scale", type=float, default=1.0,
                   help="lam pretrain --scale (1: full embedded scale; smaller only for a smoke run)")
    p.add_argument("--usage-examples", type=int, default=200, help="held-out examples for the codebook usage")
    p.add_argument("--n-judged", type=int, default=100, help="test_id samples per task for the prior-code replies")
    p.add_argument("--skip-learning", action="store_true", help="pretrain and measure the codebooks only")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ablations")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    out = args.out.resolve()
    os.chdir(REPO)  # the variants' model paths in the env keywords are relative to the checkout
    command = "python benchmarks/ablations.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    table: dict[str, dict[str, Any]] = {}
    if (out / "ablations.json").is_file():
        table = json.loads((out / "ablations.json").read_text())
    for variant in args.variants:
        pretrain(out, variant, args.threads, args.pretrain_scale)
        table.setdefault(variant, {})["usage"] = usage(out, variant, args.usage_examples, args.tasks, args.n_judged)
        write_tables(out, table, command)
    if not args.skip_learning:
        for variant in args.variants:
            table[variant]["rows"] = learning_rows(out, variant, args)
            write_tables(out, table, command)
    print((out / "ablations.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
