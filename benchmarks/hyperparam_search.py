"""Hyperparameter search from the fair start: optuna's TPE over a few PPO / GRPO keywords, judged on test_id.

    python benchmarks/hyperparam_search.py --algo ppo --env lam/MMRole-Latent-v0 --trials 8 --steps 8192 \
        --n-eval 16 --timeout 3600
    python benchmarks/hyperparam_search.py --quick --env-kwargs '{"backbone": "<tiny dir>", ...}' --out /tmp/search

Each trial trains one run per seed from the fair start with the algorithm's YAML entry for the env
(``lam_agents/hyperparams/<algo>.yml``) overridden by the trial's values, through
:func:`lam_agents.learning.run_one`, which scores the policy on the first ``--n-eval`` test_id prompts before and
after training (same prompts, same sampling seeds). The objective is the paired improvement, end - start, of the
mean judge ratio (averaged over seeds). Trial 0 is always the YAML entry itself, so the table shows what the search
found against the shipped values at the same budget. ``improvement_se`` is the standard error of that difference
over prompts (per-prompt means of the sampled replies, paired), i.e. how much of a trial's number is noise.

Search spaces (:data:`SPACES`): PPO learning_rate (log-uniform 1e-4..1e-2), n_epochs {2, 4, 8}, n_steps
{32, 64, 128}; GRPO learning_rate and n_epochs. The sampler is TPE with a fixed seed.

Resumable: every finished trial is written to ``<out>/<algo>_<env>.json`` (a JSON of finished trials, readable in a
diff) and the table ``<out>/<algo>_<env>.md`` is rebuilt after each one; running the same command again feeds the
finished trials back to the sampler and runs only the missing ones (``--trials`` counts the total). ``--timeout``
stops *starting* trials after that many seconds (optuna's semantics: the running trial finishes). Training runs go
to a temporary directory and are deleted after scoring; only the scores are kept.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

from lam_agents.algos import load_hyperparams
from lam_agents.env_kwargs import env_kwargs_record
from lam_agents.learning import LearningConfig, run_one
from lam_agents.run_dir import write_json_atomic
from lam_agents.train import _versions
from lam_envs.envs.registration import ACTION_NAMES, TASK_NAMES, env_id

logger = logging.getLogger("hyperparam_search")

SPLIT = "test_id"
SAMPLER_SEED = 0

SPACES: dict[str, dict[str, optuna.distributions.BaseDistribution]] = {
    "ppo": {
        "learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
        "n_epochs": optuna.distributions.CategoricalDistribution([2, 4, 8]),
        "n_steps": optuna.distributions.CategoricalDistribution([32, 64, 128]),
    },
    "grpo": {
        "learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
        "n_epochs": optuna.distributions.CategoricalDistribution([2, 4, 8]),
    },
}
"""What each algorithm's search varies (every other keyword is the YAML entry's)."""

QUICK_FIXED: dict[str, dict[str, Any]] = {
    "ppo": {"n_envs": 2, "batch_size": 64},
    "grpo": {"n_envs": 8, "groups_per_update": 1, "batch_size": 32},
}
"""``--quick`` only: keywords that make a rollout fit its tiny budget (the searched ones still vary)."""


def task_and_kind(eid: str) -> tuple[str, str]:
    """The (task, action space) of a registered id, e.g. ``("mmrole", "latent")`` for ``lam/MMRole-Latent-v0``."""
    ids = {env_id(t, k): (t, k) for t in TASK_NAMES for k in ACTION_NAMES}
    if eid not in ids:
        raise ValueError(f"unknown env id {eid!r}; expected one of: {', '.join(ids)}")
    return ids[eid]


def trial_score(settings: dict[str, Any], env_kwargs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Train and score one trial's values on every seed (see the module docstring)."""
    task, kind = task_and_kind(settings["env_id"])
    algo = settings["algo"]
    starts, ends, ses, seconds = [], [], [], 0.0
    for seed in settings["seeds"]:
        with tempfile.TemporaryDirectory(prefix="lam_search_") as tmp:
            config = LearningConfig(
                tasks=(task,), algos=(algo,), action_spaces=(kind,), seeds=(seed,), steps=settings["steps"],
                n_eval=settings["n_eval"], samples_per_prompt=settings["samples_per_prompt"], splits=(SPLIT,),
                env_kwargs=env_kwargs, hyperparams={algo: {**settings["fixed"], **params}}, out=tmp)
            result = run_one(config, task, algo, kind, seed)
        start, end = result["start"][SPLIT], result["end"][SPLIT]
        starts.append(start["total"])
        ends.append(end["total"])
        ses.append(_paired_se(start["ratios"], end["ratios"]))
        seconds += result["train_seconds"]
    return {"start": float(np.mean(starts)), "end": float(np.mean(ends)),
            "value": float(np.mean(ends) - np.mean(starts)),
            "improvement_se": float(math.sqrt(sum(s * s for s in ses)) / len(ses)), "train_seconds": seconds,
            "per_seed": [{"seed": s, "start": a, "end": b} for s, a, b in zip(settings["seeds"], starts, ends)]}


def _paired_se(start: list[list[float]], end: list[list[float]]) -> float:
    """Standard error over prompts of (end - start) of the per-prompt mean ratio."""
    diffs = [np.mean(b) - np.mean(a) for a, b in zip(start, end) if a and b]
    return float(np.std(diffs, ddof=1) / math.sqrt(len(diffs))) if len(diffs) > 1 else math.nan


def default_values(algo: str, eid: str) -> dict[str, Any]:
    """The YAML entry's values of the searched keywords (trial 0)."""
    entry = load_hyperparams(algo, eid)
    return {k: entry[k] for k in SPACES[algo]}


def load_finished(path: Path, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The finished trials in ``path`` (none if it does not exist).

    Raises:
        ValueError: if ``path`` holds a search with other settings (budget, seeds, env keywords, ...).
    """
    if not path.is_file():
        return []
    saved = json.loads(path.read_text())
    if saved["settings"] != settings:
        diff = {k: (saved["settings"].get(k), v) for k, v in settings.items() if saved["settings"].get(k) != v}
        raise ValueError(f"{path} holds a search with other settings ({diff}, saved vs now); pass another --out or "
                         "remove the file to start over")
    return saved["trials"]


def format_table(record: dict[str, Any]) -> str:
    """The trials as a Markdown page: the command, the settings and one row per finished trial, best first."""
    s = record["settings"]
    names = list(SPACES[s["algo"]])
    rows = sorted(record["trials"], key=lambda t: -t["value"])
    head = "| trial | " + " | ".join(names) + " | test_id start | end | improvement ± se | train s |"
    lines = [head, "|" + "---|" * (len(names) + 5)]
    for t in rows:
        vals = " | ".join(f"{t['params'][n]:.2e}" if isinstance(t["params"][n], float) else str(t["params"][n])
                          for n in names)
        tag = " (YAML entry)" if t["number"] == 0 else ""
        lines.append(f"| {t['number']}{tag} | {vals} | {t['start']:.3f} | {t['end']:.3f} | "
                     f"{t['value']:+.3f} ± {t['improvement_se']:.3f} | {t['train_seconds']:.0f} |")
    return (f"# Hyperparameter search: {s['algo']} on {s['env_id']}\n\n"
            f"Command: `{record['command']}`\n\nCommit: `{record['commit']}`\n\n"
            f"TPE (optuna {optuna.__version__}, sampler seed {SAMPLER_SEED}); {s['steps']} env steps per run from the "
            f"fair start, training seeds {s['seeds']}; objective: {SPLIT} judge ratio after - before on "
            f"{s['n_eval']} prompts x {s['samples_per_prompt']} sampled replies (same prompts and sampling seeds). "
            f"± is the standard error over prompts of the paired difference. Fixed overrides: {s['fixed'] or 'none'}."
            f"\n\n{len(rows)} finished trials, best first:\n\n" + "\n".join(lines) + "\n")


def _suggest(trial: optuna.Trial, name: str, dist: optuna.distributions.BaseDistribution) -> Any:
    if isinstance(dist, optuna.distributions.FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    assert isinstance(dist, optuna.distributions.CategoricalDistribution)
    return trial.suggest_categorical(name, dist.choices)


def search(settings: dict[str, Any], env_kwargs: dict[str, Any], trials: int, timeout: float | None, out: Path,
           command: str) -> dict[str, Any]:
    """Run the missing trials of the search in ``out`` and return its record (see the module docstring).

    Args:
        settings: What the trials share (algo, env_id, steps, n_eval, samples_per_prompt, seeds, env_kwargs as
            recorded, fixed overrides); a saved search resumes only with equal settings.
        env_kwargs: The env keywords themselves.
        trials: Total trials wanted.
        timeout: Seconds after which no trial starts (``None``: no limit).
        out: Results folder.
        command: The command line, for the table.
    """
    algo, eid = settings["algo"], settings["env_id"]
    stem = f"{algo}_{eid.split('/')[-1]}"
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    out.mkdir(parents=True, exist_ok=True)
    finished = load_finished(json_path, settings)
    space = SPACES[algo]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=SAMPLER_SEED))
    for t in finished:
        study.add_trial(optuna.trial.create_trial(params=t["params"], distributions=space, value=t["value"]))
    if not finished:
        study.enqueue_trial(default_values(algo, eid))
    record = {"settings": settings, "command": command, "commit": _versions()["commit"], "trials": list(finished)}

    def objective(trial: optuna.Trial) -> float:
        params = {name: _suggest(trial, name, dist) for name, dist in space.items()}
        began = time.perf_counter()
        score = trial_score(settings, env_kwargs, params)
        logger.info("trial %d %s: %+.3f ± %.3f (%.0f s)", trial.number, params, score["value"],
                    score["improvement_se"], time.perf_counter() - began)
        record["trials"].append({"number": trial.number, "params": params, **score})
        record["best"] = max(record["trials"], key=lambda t: t["value"])
        write_json_atomic(json_path, record)
        md_path.write_text(format_table(record))
        return score["value"]

    missing = trials - len(finished)
    if missing > 0:
        study.optimize(objective, n_trials=missing, timeout=timeout)
    if record["trials"]:
        record["best"] = max(record["trials"], key=lambda t: t["value"])
        write_json_atomic(json_path, record)
        md_path.write_text(format_table(record))
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algo", default="ppo", choices=sorted(SPACES))
    p.add_argument("--env", default="lam/MMRole-Latent-v0", help="registered env id")
    p.add_argument("--trials", type=int, default=8, help="total trials, finished ones included")
    p.add_argument("--steps", type=int, default=8192, help="environment steps per run")
    p.add_argument("--n-eval", type=int, default=16, help="test_id prompts scored before and after")
    p.add_argument("--samples-per-prompt", type=int, default=3, help="sampled replies per prompt")
    p.add_argument("--seeds", nargs="+", type=int, default=[0], help="training seeds per trial (the score averages)")
    p.add_argument("--timeout", type=float, default=None, help="start no trial after this many seconds")
    p.add_argument("--quick", action="store_true", help="2 trials of a tiny budget (a smoke test, not a search)")
    p.add_argument("--env-kwargs", default="{}", help="env keywords as JSON (e.g. a backbone directory)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--out", default="benchmarks/results/hyperparam_search")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    task_and_kind(args.env)
    if args.quick:
        args.trials, args.steps, args.n_eval, args.samples_per_prompt = 2, 256, 2, 1
    env_kwargs = json.loads(args.env_kwargs)
    settings = {"algo": args.algo, "env_id": args.env, "steps": args.steps, "n_eval": args.n_eval,
                "samples_per_prompt": args.samples_per_prompt, "seeds": list(args.seeds),
                "env_kwargs": env_kwargs_record(env_kwargs), "fixed": QUICK_FIXED[args.algo] if args.quick else {}}
    record = search(settings, env_kwargs, args.trials, args.timeout, Path(args.out), "python " + shlex.join(sys.argv))
    print(format_table(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
