"""How far can RL go from the fair start? Best-of-n of the start policy's own sampled replies, per dimension.

    python benchmarks/reward_ceiling.py --threads 2                      # 2 tasks x 2 twins x 2 splits, 24 x 32
    python benchmarks/reward_ceiling.py --tasks pcogalign --action-spaces latent --splits test_id --samples 64

For each (task, twin, split) the untrained fair-start policy (exactly what every study's run starts from) writes
``--samples`` sampled replies to each of the first ``--n-prompts`` test prompts, and the judge scores each one. From
those scores:

* ``best_of[n]``: the expected judge ratio of the best of ``n`` replies to a prompt (the unbiased order-statistics
  estimate from all ``--samples`` draws, averaged over the prompts). It is what a policy would score that, on every
  prompt, writes the reply a best-of-n re-ranker would keep: a yardstick for how far a policy has moved from its
  start, and for what a target asks. ``n_for_target`` is the smallest n (a power of 2 up to ``--samples``) whose
  best-of-n clears the mean by ``--target`` (issue 10: +0.15), ``null`` if none does.
* ``dimensions_mean`` and ``dimensions_best``: each judged dimension's mean ratio, and its mean over prompts of the
  best of all ``--samples`` replies *on that dimension alone* (an optimistic ceiling: no single reply need reach
  every dimension's best at once). A dimension whose best stays low is one the start policy (the frozen VLM and the
  latent model, through their support) hardly ever writes well, so RL from this start has little to amplify there.
* ``trained``: where a study's ``summary.json`` is given (``--study``), the study's final IQM for the same cell and
  the best-of-n it equals (linear between the powers of 2), to place the trained policy on this scale.

Outputs under ``--out``: ``ceiling.json`` (a list of rows) and ``ceiling.md``. Deterministic for a seed. Run it alone
on the machine (it decodes ~6k replies a cell; speed does not change its numbers, only its duration).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages, also from a git worktree

import numpy as np  # noqa: E402

ROWS = 128
"""Rows decoded together (prompts are repeated across rows; each row samples on its own)."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["mmrole", "pcogalign"])
    p.add_argument("--action-spaces", nargs="+", default=["latent", "token"], choices=["latent", "token"])
    p.add_argument("--splits", nargs="+", default=["test_id", "test_ood"])
    p.add_argument("--n-prompts", type=int, default=24, help="test prompts per split (the studies' --n-eval)")
    p.add_argument("--samples", type=int, default=32, help="sampled replies per prompt")
    p.add_argument("--target", type=float, default=0.15, help="gain over the mean that n_for_target asks for")
    p.add_argument("--seed", type=int, default=0, help="seeds the envs and the policy's sampling")
    p.add_argument("--env-kwargs", default="{}", help="env keywords as JSON (e.g. a backbone directory)")
    p.add_argument("--study", type=Path, default=None, help="a learning study's summary.json, to place its runs")
    p.add_argument("--threads", type=int, default=2, help="torch threads (measure one job at a time)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/reward_ceiling"))
    args = p.parse_args(argv)
    for name in ("n_prompts", "samples"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be at least 1")
    return args


def expected_best(scores: np.ndarray, n: int) -> float:
    """E[max of n draws without replacement] from the ``N`` values in ``scores``: ``sum_i C(i-1, n-1) / C(N, n) x_(i)``
    over the ascending order statistics ``x_(i)``, i = n..N (n = 1 gives the mean, n = N the maximum)."""
    x = np.sort(np.asarray(scores, dtype=float))
    big_n = x.size
    if not 1 <= n <= big_n:
        raise ValueError(f"n={n} must be in 1..{big_n}")
    weights = np.array([math.comb(i - 1, n - 1) for i in range(n, big_n + 1)], dtype=float) / math.comb(big_n, n)
    return float(weights @ x[n - 1 :])


def powers_of_two(limit: int) -> list[int]:
    out, n = [], 1
    while n <= limit:
        out.append(n)
        n *= 2
    return out


def best_of_curve(ratios: np.ndarray) -> dict[int, float]:
    """(prompts, samples) judge ratios -> {n: mean over prompts of the expected best of n}, n a power of 2."""
    return {n: float(np.mean([expected_best(row, n) for row in ratios])) for n in powers_of_two(ratios.shape[1])}


def n_reaching(curve: dict[int, float], level: float) -> int | None:
    """The smallest n of ``curve`` whose best-of-n reaches ``level`` (``None`` if none does)."""
    return next((n for n, v in sorted(curve.items()) if v >= level), None)


def equivalent_n(curve: dict[int, float], score: float) -> float | None:
    """The (fractional, linear in log2 n between the curve's points) n whose best-of-n equals ``score``: ``None``
    below best-of-1, ``inf`` above the curve's last point."""
    points = sorted(curve.items())
    if score < points[0][1]:
        return None
    for (n0, v0), (n1, v1) in zip(points, points[1:]):
        if v0 <= score <= v1:
            frac = 0.0 if v1 == v0 else (score - v0) / (v1 - v0)
            return float(2 ** (math.log2(n0) + frac * (math.log2(n1) - math.log2(n0))))
    return math.inf


def sample_replies(task: str, kind: str, split: str, args: argparse.Namespace,
                   env_kwargs: dict[str, Any]) -> tuple[np.ndarray, dict[str, np.ndarray], list[list[str]]]:
    """``--samples`` replies of the untrained fair-start policy to each of ``--n-prompts`` prompts of ``split``.

    Returns:
        ``(ratios, dimensions, replies)``: judge ratios (prompts, samples), per-dimension ratios of the same shape,
        and the reply texts per prompt. A reply whose judgement failed is NaN (and counted by the caller).
    """
    from lam_agents.envs import inner_env, make_vec_env
    from lam_agents.evaluate import answer_dialogues
    from lam_agents.train import TrainConfig, build_model, resolve_hyperparams
    from lam_envs.envs.registration import env_id

    eid = env_id(task, kind)
    venv = make_vec_env(eid, ROWS, args.seed, {**env_kwargs, "split": split, "num_samples": args.n_prompts})
    try:
        n_prompts = inner_env(venv).num_samples
        config = TrainConfig(env_id=eid, algo="ppo", seed=args.seed, fair_start=True, out=str(args.out / "_unused"),
                             env_kwargs=env_kwargs, tensorboard=False, verbose=0, progress_bar=False)
        params, _ = resolve_hyperparams(config)
        model = build_model(config, venv, params)  # the fair start, as every study's run begins
        indices = [p for p in range(n_prompts) for _ in range(args.samples)]
        episodes = answer_dialogues(model, venv, indices, seed=args.seed)
    finally:
        venv.close()
    infos = [episode[-1] for episode in episodes]
    shape = (n_prompts, args.samples)
    ratios = np.array([math.nan if i.get("judge_failed") else i["judge_ratio"] for i in infos]).reshape(shape)
    dims = sorted({d for i in infos for d in i.get("dimension_ratios", {})})
    dimensions = {d: np.array([i.get("dimension_ratios", {}).get(d, math.nan) for i in infos]).reshape(shape)
                  for d in dims}
    replies = [[i["reply"] for i in infos[p * args.samples : (p + 1) * args.samples]] for p in range(n_prompts)]
    return ratios, dimensions, replies


def study_finals(path: Path | None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(task, twin, split) -> the study's row (PPO), from a learning study's ``summary.json``."""
    if path is None:
        return {}
    return {(r["task"], r["action_space"], r["split"]): r for r in json.loads(path.read_text()) if r["algo"] == "ppo"}


def cell(task: str, kind: str, split: str, args: argparse.Namespace, env_kwargs: dict[str, Any],
         finals: dict[tuple[str, str, str], dict[str, Any]]) -> dict[str, Any]:
    """One row of ``ceiling.json`` (see the module docstring)."""
    ratios, dimensions, replies = sample_replies(task, kind, split, args, env_kwargs)
    failed = int(np.isnan(ratios).sum())
    if failed:
        raise RuntimeError(f"{task} {kind} {split}: {failed} judge failures; the ceiling needs every reply judged")
    curve = best_of_curve(ratios)
    mean = curve[1]
    top = ratios.argmax(axis=1)
    row: dict[str, Any] = {
        "task": task, "action_space": kind, "split": split, "n_prompts": int(ratios.shape[0]),
        "samples": args.samples, "mean": mean, "within_prompt_std": float(ratios.std(axis=1).mean()),
        "between_prompt_std": float(ratios.mean(axis=1).std()), "best_of": {str(n): v for n, v in curve.items()},
        "target": args.target, "n_for_target": n_reaching(curve, mean + args.target),
        "dimensions_mean": {d: float(v.mean()) for d, v in dimensions.items()},
        "dimensions_best": {d: float(v.max(axis=1).mean()) for d, v in dimensions.items()},
        "dimensions_of_best_reply": {d: float(np.mean([v[p, top[p]] for p in range(len(top))]))
                                     for d, v in dimensions.items()},
        "best_replies": [replies[p][top[p]] for p in range(min(3, len(top)))],
        "trained": None,
    }
    final = finals.get((task, kind, split))
    if final is not None:
        n = equivalent_n(curve, final["final_iqm"])
        row["trained"] = {"steps": final["steps"], "seeds": final["seeds"], "start_iqm": final["start_iqm"],
                          "final_iqm": final["final_iqm"], "best_of_equivalent": None if n is None or math.isinf(n) else n,
                          "above_curve": n is not None and math.isinf(n)}
    return row


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    """``ceiling.md``: the best-of-n table, the per-dimension table and where a study's runs sit."""
    ns = sorted({int(n) for r in rows for n in r["best_of"]})
    lines = ["# Reward ceiling of the fair start", "", f"Command: `{command}`", "",
             "Best-of-n: expected judge ratio of the best of n sampled replies of the untrained fair-start policy to "
             "a prompt, mean over prompts (unbiased order-statistics estimate from all samples).", "",
             "| task | twin | split | prompts x samples | " + " | ".join(f"best of {n}" for n in ns)
             + " | n for +target | trained (study final) | = best of |",
             "|---|---|---|---|" + "---:|" * len(ns) + "---:|---|---:|"]
    for r in rows:
        trained = r["trained"]
        if trained is None:
            placed, eq = "", ""
        else:
            placed = f"{trained['start_iqm']:.3f} -> {trained['final_iqm']:.3f} ({trained['steps'] // 1000}k)"
            n = trained["best_of_equivalent"]
            eq = f"> {r['samples']}" if trained["above_curve"] else ("below 1" if n is None else f"{n:.1f}")
        need = r["n_for_target"]
        lines.append(f"| {r['task']} | {r['action_space']} | {r['split']} | {r['n_prompts']} x {r['samples']} | "
                     + " | ".join(f"{r['best_of'][str(n)]:.3f}" if str(n) in r["best_of"] else "" for n in ns)
                     + f" | {need if need is not None else '> ' + str(r['samples'])} (+{r['target']:.2f}) | "
                     + f"{placed} | {eq} |")
    lines += ["", "Per dimension: mean ratio -> mean over prompts of the best of all samples on that dimension alone "
              "(an optimistic ceiling per dimension).", ""]
    for r in rows:
        dims = ", ".join(f"{d} {r['dimensions_mean'][d]:.2f} -> {r['dimensions_best'][d]:.2f}"
                         for d in r["dimensions_mean"])
        lines.append(f"- **{r['task']} {r['action_space']} {r['split']}**: {dims}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(args.threads)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    env_kwargs = json.loads(args.env_kwargs)
    finals = study_finals(args.study)
    command = shlex.join(["python", "benchmarks/reward_ceiling.py", *argv])
    rows = []
    for task in args.tasks:
        for kind in args.action_spaces:
            for split in args.splits:
                rows.append(cell(task, kind, split, args, env_kwargs, finals))
                print(f"{task} {kind} {split}: mean {rows[-1]['mean']:.3f}, best of {args.samples} "
                      f"{rows[-1]['best_of'][str(max(powers_of_two(args.samples)))]:.3f}", file=sys.stderr, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ceiling.json").write_text(json.dumps(rows, indent=1, allow_nan=False) + "\n")
    text = markdown(rows, command)
    (args.out / "ceiling.md").write_text(text)
    print(text)
    return rows


if __name__ == "__main__":
    main()
