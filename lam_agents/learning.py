"""Does RL improve each twin from the fair start? Runs, statistics and the reward-hacking audit, resumable.

For every (task, algorithm, action space, seed) a run is trained from the fair start with the algorithm's YAML
entry for that env, and its policy is scored on the test splits **before training and after**, on the same prompts
with the same sampling seeds (so each seed gives a paired start → end difference). Every finished run is written to
``results/<name>.json`` (small, committed) and skipped when the study runs again, so a study can span several
sittings (its training runs, models included, stay under ``runs/``, which git ignores); the summary
is rebuilt after each run.

Statistics follow Agarwal et al. (2021) through ``rliable``: IQM over seeds with 95% stratified-bootstrap CIs for the
start, the final score and the paired improvement, and the probability of improvement of latent over token. The
learning curves are the training judge ratio (per finished reply) binned over steps, with a bootstrap CI band over
seeds. ``steps_to_token_final`` is the first step at which the latent twin's mean curve reaches the token twin's
final curve value (``None`` if it never does).

The audit: per-dimension ratios before and after, how often replies show the degenerate patterns that
``lam judge --self-check`` probes (repetition, catchphrase spam, lists of colours or shapes, very short, cut at the
length limit, one template filled in for every prompt), diversity of the sampled replies per prompt (distinct-1/2
and the share of distinct replies), and
random test replies before and after, side by side.

Outputs under ``out``: ``summary.json`` (rows with task, algo, action_space, split, seeds, start_iqm, final_iqm,
final_ci, improvement_ci, steps_to_token_final, ...), ``summary.md`` and ``curves.png``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from tqdm.auto import tqdm

from lam_agents.callbacks import CurveCallback
from lam_agents.run_dir import write_json_atomic
from lam_agents.train import TrainConfig, _versions, resolve_hyperparams, train
from lam_envs.data.scenes import COLORS, LOCATIONS, SHAPES
from lam_envs.envs.registration import env_id
from lam_envs.tasks import task_names

logger = logging.getLogger(__name__)

CURVE_BINS = 10


@dataclass
class LearningConfig:
    """One learning study (see the module docstring)."""

    tasks: tuple[str, ...] = field(default_factory=lambda: task_names())
    """Tasks studied (default: every registered task)."""
    algos: tuple[str, ...] = ("ppo", "grpo", "a2c")
    """Algorithms (each on both twins)."""
    action_spaces: tuple[str, ...] = ("latent", "token")
    """Twins."""
    dialogue: bool = False
    """Train and score on the whole-dialogue ids (``lam/<Task>-Dialogue-<Kind>-v0``): a test score is then each
    dialogue's mean reply ratio, and the curves have a point per judged reply."""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Training seeds."""
    steps: int = 100_000
    """Environment steps (tokens) per run."""
    n_envs: int | None = 16
    """Rows decoded together (the probes of ``benchmarks/results/learning_probe`` used 16; ``None``: the YAML's)."""
    n_eval: int = 32
    """Test prompts per split (the same prompts before and after)."""
    samples_per_prompt: int = 3
    """Sampled replies per test prompt."""
    splits: tuple[str, ...] = ("test_id", "test_ood")
    """Test splits."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Env keywords shared by every run."""
    hyperparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per algorithm, keywords that replace the YAML's (the same for both twins)."""
    kl_beta: float | None = None
    """KL penalty toward the fair start (``lam train --kl-beta``; ``None``: none, or GRPO's own)."""
    bootstrap_reps: int = 2000
    """Bootstrap resamples of the CIs."""
    out: str = "benchmarks/results/learning"
    """Output directory: ``results/`` holds one JSON per finished run, ``runs/`` the training runs themselves."""

    @classmethod
    def quick(cls, **overrides: Any) -> LearningConfig:
        """What ``lam demo`` runs: PPO on both twins of both tasks, 3 seeds, a budget that fits 6 minutes on 2 cores.

        Its test score is 96 prompts x 1 sampled reply, decoded as one batch of 96 rows: the paired end - start of
        one seed then has a sampling noise of about 0.016 (at the study's 16-24 prompts x 3 it was ~0.02, as large
        as a 12k-step gain, and one seed in three could show none: MMRole-Latent +0.032/+0.062/-0.005 at 16 x 3,
        +0.033/+0.053/+0.029 at 64 x 2, the same training runs). 32 rows decode together in training (one batched
        step of 32 rows costs ~1.5x one of 16); 48 rows give 4 rollouts of 3,072 steps, the same 384 gradient steps
        as 6 rollouts of 32 x 64. Training draws its prompts from the first 512 RL samples (a run writes ~300
        replies), which saves generating MMRole's 3,200 (4.5 s of the first env's 12 s). Measured on the quiet
        2-core machine (2026-12-02): 12,288 steps at 32 rows took 6 min 12 s; 10,240 at 32 rows 5 min 29 s, and
        PCogAlign-Latent's CI then reached below 0 (one seed of three gained nothing); 12,288 at 48 rows 6 min 2 s."""
        base: dict[str, Any] = {"algos": ("ppo",), "seeds": (0, 1, 2), "steps": 12_288, "n_envs": 48, "n_eval": 96,
                                "samples_per_prompt": 1, "splits": ("test_id",), "bootstrap_reps": 1000,
                                "env_kwargs": {"num_samples": 512}, "out": "lam_demo/learning"}
        return cls(**{**base, **overrides})


# ------------------------------------------------------------------------------------------------ evaluation
def evaluate_policy(model: Any, eid: str, env_kwargs: dict[str, Any], split: str, n: int, samples_per_prompt: int,
                    seed: int, n_envs: int) -> dict[str, Any]:
    """Sampled replies of ``model`` to the first ``n`` prompts of ``split`` and their judge ratios.

    Returns:
        ``{"total": mean ratio, "dimensions": {dim: mean}, "replies": [[reply per round] per prompt],
        "ratios": [[ratio per round] per prompt], "reply_tokens": [...], "judge_failures": int}``.
    """
    from lam_agents.envs import inner_env, make_vec_env
    from lam_agents.evaluate import answer_dialogues

    venv = make_vec_env(eid, min(n_envs, n), seed, {**env_kwargs, "split": split, "num_samples": n})
    n_prompts = inner_env(venv).num_samples
    replies: list[list[str]] = [[] for _ in range(n_prompts)]
    ratios: list[list[float]] = [[] for _ in range(n_prompts)]
    dims: dict[str, list[float]] = {}
    lengths, failures, max_tokens = [], 0, inner_env(venv).max_reply_tokens
    for r in range(samples_per_prompt):
        for i, episode in enumerate(answer_dialogues(model, venv, range(n_prompts), seed=seed * 1000 + r)):
            # One reply per episode, or a dialogue's replies: its score is their mean (a whole-dialogue score).
            replies[i].append(" | ".join(info["reply"] for info in episode))
            lengths += [int(info["reply_tokens"]) for info in episode]
            judged = [info for info in episode if not info.get("judge_failed")]
            failures += len(episode) - len(judged)
            if not judged:
                continue
            ratios[i].append(float(np.mean([info["judge_ratio"] for info in judged])))
            for info in judged:
                for d, v in info["dimension_ratios"].items():
                    dims.setdefault(d, []).append(float(v))
    venv.close()
    flat = [x for row in ratios for x in row]
    return {"total": float(np.mean(flat)) if flat else math.nan,
            "dimensions": {d: float(np.mean(v)) for d, v in dims.items()},
            "replies": replies, "ratios": ratios, "reply_tokens": lengths, "judge_failures": failures,
            "max_reply_tokens": max_tokens}


class _StartScore(BaseCallback):
    """Scores the policy once, at the start of training (the fair start, before any update)."""

    def __init__(self, score: Any) -> None:
        super().__init__()
        self.score = score
        self.result: Any = None

    def _on_training_start(self) -> None:
        self.result = self.score(self.model)

    def _on_step(self) -> bool:
        return True


# ---------------------------------------------------------------------------------------------------- runs
def run_name(task: str, algo: str, kind: str, seed: int) -> str:
    return f"{algo}_{task}_{kind}_s{seed}"


def run_one(config: LearningConfig, task: str, algo: str, kind: str, seed: int) -> dict[str, Any]:
    """Train one run and score it before and after on every split (see the module docstring)."""
    from lam_agents.train import load_agent

    out = Path(config.out) / "runs" / run_name(task, algo, kind, seed)
    base = train_config(config, task, algo, kind, seed, out / "train")
    eid = base.env_id
    _, n_envs = resolve_hyperparams(base)

    # All of a split's prompts in one batch (up to 128 rows): batched decoding costs little more than one row.
    eval_rows = max(n_envs, min(config.n_eval, 128))

    def score_all(model: Any) -> dict[str, Any]:
        return {s: evaluate_policy(model, eid, config.env_kwargs, s, config.n_eval, config.samples_per_prompt, seed,
                                   eval_rows) for s in config.splits}

    start = _StartScore(score_all)
    curve = CurveCallback()
    began = time.perf_counter()
    train(base, extra_callbacks=[start, curve])
    seconds = time.perf_counter() - began
    model, _ = load_agent(out / "train")
    end = score_all(model)
    return {"task": task, "algo": algo, "action_space": kind, "seed": seed, "steps": config.steps,
            "settings": run_settings(config, task), "resolved_hyperparams": resolved_hyperparams(base),
            "train_seconds": seconds, "curve": binned_curve(curve.points, config.steps),
            "start": start.result, "end": end}


def train_config(config: LearningConfig, task: str, algo: str, kind: str, seed: int, out: Path) -> TrainConfig:
    """The training run of one (task, algo, twin, seed) of the study."""
    return TrainConfig(env_id=env_id(task, kind, config.dialogue), algo=algo, steps=config.steps, seed=seed,
                       n_envs=config.n_envs, overrides=dict(config.hyperparams.get(algo, {})), fair_start=True,
                       kl_beta=config.kl_beta, out=str(out), env_kwargs=config.env_kwargs, checkpoint_every=0,
                       progress_bar=False, tensorboard=False, verbose=0, overwrite=True)


def resolved_hyperparams(base: TrainConfig) -> dict[str, Any]:
    """The constructor keywords a run trains with (the YAML entry, then the study's overrides) and its row count,
    as JSON: a finished run whose YAML entry has changed since is run again."""
    params, n_envs = resolve_hyperparams(base)
    return json.loads(json.dumps({**params, "n_envs": n_envs}, default=str, sort_keys=True))


def run_settings(config: LearningConfig, task: str) -> dict[str, Any]:
    """What a finished run of ``task`` must share with the study to be kept (everything but the lists of runs and
    the output, plus the task's rule-judge version)."""
    from lam_agents.env_kwargs import env_kwargs_record
    from lam_envs.envs import DYNAMICS_VERSION
    from lam_envs.tasks import task_spec

    # ``dialogue`` and the judge version only when set, so that runs finished before they existed are recognised.
    extra: dict[str, Any] = {"dialogue": True} if config.dialogue else {}
    if task_spec(task).rule_judge_version > 1:
        extra["rule_judge_version"] = task_spec(task).rule_judge_version
    if config.kl_beta is not None:
        extra["kl_beta"] = config.kl_beta
    return json.loads(json.dumps({**extra, "env_dynamics": DYNAMICS_VERSION, "steps": config.steps, "n_envs": config.n_envs, "n_eval": config.n_eval,
                                  "samples_per_prompt": config.samples_per_prompt, "splits": list(config.splits),
                                  "hyperparams": config.hyperparams,
                                  "env_kwargs": env_kwargs_record(config.env_kwargs)}, default=str))


def binned_curve(points: list[tuple[int, float]], steps: int, bins: int = CURVE_BINS) -> list[float]:
    """Mean training judge ratio of the replies finished in each of ``bins`` equal step ranges (NaN if none)."""
    edges = np.linspace(0, steps, bins + 1)
    xs = np.array([p[0] for p in points], dtype=float)
    ys = np.array([p[1] for p in points], dtype=float)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (xs > lo) & (xs <= hi)
        out.append(float(ys[sel].mean()) if sel.any() else math.nan)
    return out


# ------------------------------------------------------------------------------------------------ the audit
def degenerate_patterns(reply: str, max_tokens_hit: bool) -> set[str]:
    """Which of the self-check's degenerate patterns ``reply`` shows."""
    words = re.findall(r"[a-z']+", reply.lower())
    found = set()
    if len(words) < 4:
        found.add("very_short")
    if max_tokens_hit:
        found.add("cut_at_limit")
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    if trigrams and max(trigrams.count(t) for t in set(trigrams)) >= 3:
        found.add("repetition")
    sentences = [s.strip() for s in re.split(r"[.!?]+", reply.lower()) if s.strip()]
    if sentences and len(sentences) - len(set(sentences)) >= 2:
        found.add("repeated_sentences")
    if len({w for w in words if w in COLORS}) >= 5 or len({w for w in words if w.rstrip("s") in SHAPES}) >= 4:
        found.add("lists_colours_or_shapes")
    return found


def diversity(replies_per_prompt: Sequence[Sequence[str]]) -> dict[str, float]:
    """distinct-1 / distinct-2 over all replies, and the mean share of distinct replies among a prompt's samples."""
    unigrams, bigrams, n1, n2, share = set(), set(), 0, 0, []
    for replies in replies_per_prompt:
        for reply in replies:
            words = reply.lower().split()
            unigrams.update(words)
            bigrams.update(zip(words, words[1:]))
            n1, n2 = n1 + len(words), n2 + max(len(words) - 1, 0)
        if replies:
            share.append(len(set(replies)) / len(replies))
    return {"distinct_1": len(unigrams) / max(n1, 1), "distinct_2": len(bigrams) / max(n2, 1),
            "distinct_replies": float(np.mean(share)) if share else math.nan}


_AT_PLACE = re.compile(r"\b(?:in|at|on)(?: the)? (?:" + "|".join(LOCATIONS) + r")\b")


def skeleton(reply: str, slots: dict[str, str]) -> tuple[str, ...]:
    """``reply``'s words with every swappable word (scene, persona: a rule judge's ``slots``) replaced by its slot,
    and a place with its preposition (``in the park``, ``at home``) by ``<at_place>``: what stays the same when one
    template is filled in for another prompt."""
    text = _AT_PLACE.sub(" atplace ", reply.lower())
    return tuple("<at_place>" if w == "atplace" else slots.get(w, w) for w in re.findall(r"[a-z']+", text))


def templated_share(replies_per_prompt: Sequence[Sequence[str]], slots: dict[str, str]) -> float:
    """Share of replies whose :func:`skeleton` is also the skeleton of a reply to another prompt: one template
    filled in for every prompt (MMRole's ``evasive_template`` kind of ``lam judge --self-check``), where replies
    written for their prompt rarely share a whole skeleton."""
    owners: dict[tuple[str, ...], set[int]] = {}
    for i, replies in enumerate(replies_per_prompt):
        for reply in replies:
            owners.setdefault(skeleton(reply, slots), set()).add(i)
    flags = [len(owners[skeleton(r, slots)] - {i}) > 0 for i, replies in enumerate(replies_per_prompt) for r in replies]
    return float(np.mean(flags)) if flags else math.nan


def audit(result: dict[str, Any], rng: np.random.Generator, n_examples: int = 10,
          slots: dict[str, str] | None = None) -> dict[str, Any]:
    """The reward-hacking audit of one split's before/after scores (see the module docstring); ``slots`` (the task
    rule judge's) adds the ``templated`` pattern (:func:`templated_share`)."""
    def rates(score: dict[str, Any]) -> dict[str, float]:
        # Text patterns per written episode; the cut rate per reply (a dialogue episode holds several).
        hits = [degenerate_patterns(r, False) for row in score["replies"] for r in row]
        out = {k: float(np.mean([k in h for h in hits])) for k in sorted({k for h in hits for k in h})}
        cut = float(np.mean([t >= score["max_reply_tokens"] for t in score["reply_tokens"]]))
        if slots is not None:
            out["templated"] = templated_share(score["replies"], slots)
        return dict(sorted({**out, **({"cut_at_limit": cut} if cut or "cut_at_limit" in out else {})}.items()))

    start, end = result["start"], result["end"]
    n = len(start["replies"])
    picks = rng.choice(n, size=min(n_examples, n), replace=False).tolist()
    return {"dimensions_start": start["dimensions"], "dimensions_end": end["dimensions"],
            "patterns_start": rates(start), "patterns_end": rates(end),
            "diversity_start": diversity(start["replies"]), "diversity_end": diversity(end["replies"]),
            "examples": [{"prompt": i, "start": start["replies"][i][0], "end": end["replies"][i][0]} for i in picks]}


# ------------------------------------------------------------------------------------------------ statistics
def iqm(scores: np.ndarray) -> float:
    """The interquartile mean of all of ``scores``: the value of rliable's ``metrics.aggregate_iqm`` (SciPy's
    ``trim_mean(·, 0.25)``), without SciPy's per-call overhead (~1 ms), which rliable's bootstrap pays once per
    resample: 14 estimates at 1,000 resamples took ~15 s with it. A test pins the two to each other."""
    x = np.sort(np.asarray(scores, dtype=float).ravel())
    cut = int(0.25 * x.size)
    return float(x[cut : x.size - cut].mean())


def iqm_ci(scores: np.ndarray, reps: int, seed: int = 0) -> tuple[float, list[float]]:
    """IQM of ``scores`` (runs,) and its 95% stratified-bootstrap CI, by rliable's ``get_interval_estimates``."""
    from rliable import library as rly

    np.random.seed(seed)  # rliable's bootstrap draws from NumPy's global generator
    point, interval = rly.get_interval_estimates(
        {"x": scores.reshape(-1, 1)}, lambda s: np.array([iqm(s)]), reps=reps)
    return float(point["x"][0]), [float(interval["x"][0, 0]), float(interval["x"][1, 0])]


def improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) over the tasks (columns) of runs ``x`` and ``y``: the value of rliable's
    ``metrics.probability_of_improvement`` (the Mann-Whitney U statistic over ``n_x * n_y``, ties counting half; 0.5
    where the two columns are equal), without SciPy's per-call overhead (~2 ms a resample). A test pins the two."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    per_task = []
    for task in range(x.shape[1]):
        a, b = x[:, task], y[:, task]
        if np.array_equal(a, b):
            per_task.append(0.5)
            continue
        diff = a[:, None] - b[None, :]
        per_task.append(float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size))
    return float(np.mean(per_task))


def improvement_probability(x: np.ndarray, y: np.ndarray, reps: int, seed: int = 0) -> tuple[float, list[float]]:
    """P(X > Y) of runs ``x`` over runs ``y`` with its 95% CI, by rliable's ``get_interval_estimates``."""
    from rliable import library as rly

    np.random.seed(seed)
    point, interval = rly.get_interval_estimates(
        {"p": (x.reshape(-1, 1), y.reshape(-1, 1))}, improvement, reps=reps)
    lo, hi = np.ravel(interval["p"])[:2]
    return float(np.ravel(point["p"])[0]), [float(lo), float(hi)]


def steps_to_reach(curve: np.ndarray, target: float, steps: int) -> int | None:
    """The end of the first curve bin whose value reaches ``target`` (``None`` if none does)."""
    edges = np.linspace(0, steps, len(curve) + 1)[1:]
    hit = np.flatnonzero(np.nan_to_num(curve, nan=-np.inf) >= target)
    return int(edges[hit[0]]) if hit.size else None


def summarize(results: list[dict[str, Any]], config: LearningConfig) -> list[dict[str, Any]]:
    """One row per (task, algo, action space, split) of the statistics named in the module docstring."""
    rows = []
    groups = sorted({(r["task"], r["algo"], r["action_space"]) for r in results})
    for task, algo, kind in groups:
        runs = sorted((r for r in results if (r["task"], r["algo"], r["action_space"]) == (task, algo, kind)),
                      key=lambda r: r["seed"])
        token = [r for r in results if (r["task"], r["algo"], r["action_space"]) == (task, algo, "token")]
        curves = np.array([r["curve"] for r in runs], dtype=float)
        for split in config.splits:
            start = np.array([r["start"][split]["total"] for r in runs])
            end = np.array([r["end"][split]["total"] for r in runs])
            start_iqm, start_ci = iqm_ci(start, config.bootstrap_reps)
            final_iqm, final_ci = iqm_ci(end, config.bootstrap_reps)
            gain_iqm, gain_ci = iqm_ci(end - start, config.bootstrap_reps)
            row: dict[str, Any] = {
                "task": task, "algo": algo, "action_space": kind, "split": split, "seeds": [r["seed"] for r in runs],
                "steps": config.steps, "start_iqm": start_iqm, "start_ci": start_ci, "final_iqm": final_iqm,
                "final_ci": final_ci, "improvement_iqm": gain_iqm, "improvement_ci": gain_ci,
                "steps_to_token_final": None, "p_latent_over_token": None, "p_latent_over_token_ci": None,
                "train_seconds": float(np.mean([r["train_seconds"] for r in runs])),
            }
            if kind == "latent" and token:
                token_curve = _nanmean_rows(np.array([r["curve"] for r in token], dtype=float))
                finite = token_curve[np.isfinite(token_curve)]
                if finite.size:
                    row["steps_to_token_final"] = steps_to_reach(_nanmean_rows(curves), float(finite[-1]),
                                                                 config.steps)
                token_end = np.array([r["end"][split]["total"] for r in token])
                p, p_ci = improvement_probability(end, token_end, config.bootstrap_reps)
                row["p_latent_over_token"], row["p_latent_over_token_ci"] = p, p_ci
            audits = [audit({"start": r["start"][split], "end": r["end"][split]}, np.random.default_rng(r["seed"]),
                            slots=_judge_slots(task)) for r in runs]
            row["audit"] = _mean_audit(audits)
            row["examples"] = audits[0]["examples"]
            rows.append(row)
    return rows


@functools.lru_cache(maxsize=None)
def _judge_slots(task: str) -> dict[str, str]:
    from lam_envs.rewards.rules import rule_judge

    return rule_judge(task).slots


def _nanmean_rows(data: np.ndarray) -> np.ndarray:
    """Column means over the finite entries (NaN where a column has none), without NumPy's empty-slice warning."""
    seen = np.isfinite(data).sum(axis=0)
    return np.where(seen > 0, np.nansum(data, axis=0) / np.maximum(seen, 1), np.nan)


def _mean_audit(audits: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("dimensions_start", "dimensions_end", "patterns_start", "patterns_end", "diversity_start",
                "diversity_end"):
        names = sorted({k for a in audits for k in a[key]})
        out[key] = {k: float(np.mean([a[key].get(k, 0.0) for a in audits])) for k in names}
    return out


# ------------------------------------------------------------------------------------------------ reporting
def _ci(ci: Sequence[float] | None) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "-"


def format_rows(rows: list[dict[str, Any]]) -> str:
    """The summary as a Markdown table."""
    head = ("| task | algo | twin | split | n | start IQM | final IQM [95% CI] | improvement [95% CI] | "
            "P(latent > token) | steps to token final |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        p = f"{r['p_latent_over_token']:.2f} {_ci(r['p_latent_over_token_ci'])}" if r["p_latent_over_token"] is not None else "-"
        lines.append(
            f"| {r['task']} | {r['algo']} | {r['action_space']} | {r['split']} | {len(r['seeds'])} | "
            f"{r['start_iqm']:.3f} | {r['final_iqm']:.3f} {_ci(r['final_ci'])} | "
            f"{r['improvement_iqm']:+.3f} {_ci(r['improvement_ci'])} | {p} | {r['steps_to_token_final'] or '-'} |")
    return "\n".join(lines)


def readme_table(rows: list[dict[str, Any]], algos: Sequence[str] = ("ppo", "grpo", "a2c")) -> str:
    """The README's results table: one line per (algo, task, twin), test_id start -> final and improvement, test_ood
    improvement, P(latent > token) on test_id; bold where the improvement's CI excludes 0."""
    def gain(r: dict[str, Any] | None) -> str:
        if r is None:
            return "-"
        lo, hi = r["improvement_ci"]
        cell = f"{r['improvement_iqm']:+.3f} [{lo:.3f}, {hi:.3f}]"
        return f"**{cell}**" if lo > 0 or hi < 0 else cell

    by = {(r["algo"], r["task"], r["action_space"], r["split"]): r for r in rows}
    names = {"ppo": "PPO", "grpo": "GRPO", "a2c": "A2C", "maskable_ppo": "MaskablePPO", "recurrent_ppo": "RecurrentPPO"}
    order = {a: i for i, a in enumerate(algos)}
    groups = sorted({k[:3] for k in by}, key=lambda k: (order.get(k[0], len(order)), k[0], k[1], k[2]))
    lines = ["| algo | task | twin | test_id start → final | test_id improvement [95% CI] | test_ood improvement "
             "[95% CI] | P(latent > token), test_id |", "|---|---|---|---|---|---|---|"]
    for algo, task, kind in groups:
        test_id = by.get((algo, task, kind, "test_id"))
        start = f"{test_id['start_iqm']:.3f} → {test_id['final_iqm']:.3f}" if test_id else "-"
        p_cell = ""
        if test_id and test_id["p_latent_over_token"] is not None:
            lo, hi = test_id["p_latent_over_token_ci"]
            p_cell = f"{test_id['p_latent_over_token']:.2f} [{lo:.2f}, {hi:.2f}]"
        lines.append(f"| {names.get(algo, algo)} | {task} | {kind} | {start} | {gain(test_id)} | "
                     f"{gain(by.get((algo, task, kind, 'test_ood')))} | {p_cell} |")
    return "\n".join(lines)


def format_audit(rows: list[dict[str, Any]]) -> str:
    """Per-dimension ratios, degenerate-pattern rates and diversity, before → after."""
    lines = []
    for r in rows:
        a = r["audit"]
        dims = ", ".join(f"{d} {a['dimensions_start'][d]:.2f}→{a['dimensions_end'].get(d, math.nan):.2f}"
                         for d in a["dimensions_start"])
        pats = ", ".join(f"{k} {a['patterns_start'].get(k, 0):.2f}→{a['patterns_end'].get(k, 0):.2f}"
                         for k in sorted(set(a["patterns_start"]) | set(a["patterns_end"]))) or "none"
        div = ", ".join(f"{k} {a['diversity_start'][k]:.2f}→{a['diversity_end'][k]:.2f}" for k in a["diversity_start"])
        lines.append(f"- **{r['task']} {r['algo']} {r['action_space']} {r['split']}**: {dims}. Patterns: {pats}. "
                     f"Diversity: {div}.")
    return "\n".join(lines)


def plot_curves(results: list[dict[str, Any]], steps: int, path: Path, reps: int = 1000) -> Path:
    """Training judge ratio against steps: mean over seeds with a 95% bootstrap band, latent solid, token dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in results})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 3.8), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, task in zip(axes[0], tasks):
        for algo in sorted({r["algo"] for r in results}):
            for kind, style in (("latent", "-"), ("token", "--")):
                data = np.array([r["curve"] for r in results
                                 if (r["task"], r["algo"], r["action_space"]) == (task, algo, kind)], dtype=float)
                if not data.size:
                    continue
                xs = np.linspace(0, steps, data.shape[1] + 1)[1:]
                mean = _nanmean_rows(data)
                boots = np.array([_nanmean_rows(data[rng.integers(len(data), size=len(data))]) for _ in range(reps)])
                ok = np.isfinite(boots).any(axis=0)
                lo, hi = np.full(len(mean), np.nan), np.full(len(mean), np.nan)
                if ok.any():
                    lo[ok], hi[ok] = np.nanpercentile(boots[:, ok], [2.5, 97.5], axis=0)
                line, = ax.plot(xs, mean, style, label=f"{algo} {kind} (n={len(data)})")
                ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2)
        ax.set_title(task)
        ax.set_xlabel("environment steps (tokens)")
        ax.set_ylabel("training judge ratio")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_summary(results: list[dict[str, Any]], config: LearningConfig, command: str) -> list[dict[str, Any]]:
    """Rebuild summary.json, summary.md and curves.png from the finished runs."""
    out = Path(config.out)
    rows = summarize(results, config)
    write_json_atomic(out / "summary.json", rows)
    plot_curves(results, config.steps, out / "curves.png")
    versions = _versions()
    examples = []
    for r in rows:
        examples.append(f"\n### {r['task']} {r['algo']} {r['action_space']} {r['split']} (seed {r['seeds'][0]})\n")
        examples += [f"- start: {e['start']!r}\n  end: {e['end']!r}" for e in r["examples"][:10]]
    md = (f"# Learning from the fair start\n\nCommand: `{command}`\n\nCommit: `{versions['commit']}`\n\n"
          f"{config.steps} steps per run; {config.n_eval} test prompts x {config.samples_per_prompt} sampled replies "
          f"per split, scored before and after training; IQM over seeds with 95% stratified-bootstrap CIs "
          f"(rliable, {config.bootstrap_reps} reps).\n\n{format_rows(rows)}\n\n![learning curves](curves.png)\n\n"
          f"## Reward-hacking audit (before → after)\n\n{format_audit(rows)}\n\n## Test replies before and after\n"
          + "\n".join(examples) + "\n")
    (out / "summary.md").write_text(md)
    return rows


def run_study(config: LearningConfig, command: str | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """Run every missing (task, algo, twin, seed), keeping finished runs: each run's JSON when it finishes, the
    summary after each (algo, task) block and at the end.

    Returns:
        The summary rows.
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    command = command or " ".join(sys.argv)
    write_json_atomic(out / "config.json", asdict(config))
    # One algorithm at a time, so that a study cut short has whole rows (both twins, every seed) of the first ones.
    todo = [(t, a, k, s) for a in config.algos for t in config.tasks for s in config.seeds for k in config.action_spaces]
    results: list[dict[str, Any]] = []
    bar = tqdm(todo, desc="learning runs", unit="run", disable=not progress)
    for index, (task, algo, kind, seed) in enumerate(bar):
        path = out / "results" / f"{run_name(task, algo, kind, seed)}.json"
        bar.set_postfix_str(f"{algo} {task} {kind} seed {seed}")
        if path.is_file():
            result = json.loads(path.read_text())
            # Runs finished before the resolved keywords were recorded are recognised by their settings alone.
            resolved = result.get("resolved_hyperparams")
            current = resolved_hyperparams(train_config(config, task, algo, kind, seed, path.parent))
            if result.get("settings") == run_settings(config, task) and resolved in (None, current):
                results.append(result)
                continue
            logger.warning("%s was made with other settings; running it again", path)
        result = run_one(config, task, algo, kind, seed)
        write_json_atomic(path, result)
        results.append(result)
        # The summary (bootstraps, plot) after each finished (algo, task) block, the run JSONs after every run.
        if (algo, task) not in {(a, t) for t, a, _, _ in todo[index + 1 :]}:
            write_summary(results, config, command)
    return write_summary(results, config, command) if results else []
