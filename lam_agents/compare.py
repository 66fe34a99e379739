"""Latent vs token action spaces at a fixed budget from the fair start: the project's first evidence.

For every task, algorithm and seed, the latent and the token twin are trained with the same hyperparameters (the
algorithm's shipped YAML ``default`` entry, so both get identical settings), the same number of environment steps and
the same fair start, then scored on the in-distribution and OOD test splits (:mod:`lam_agents.evaluate`). Results:
``results.md`` (mean ± std over seeds of each run's total judge ratio, the exact command and the commit),
``results.json`` (every run) and ``curves.png`` (training judge ratio against steps, mean over seeds)::

    rows, table = run_comparison(CompareConfig.quick())   # what `lam demo` runs
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from lam_agents.callbacks import CurveCallback
from lam_agents.evaluate import score_split
from lam_agents.train import TrainConfig, _versions, load_agent, train
from lam_envs.data.types import TASKS
from lam_envs.envs.registration import env_id

logger = logging.getLogger(__name__)


@dataclass
class CompareConfig:
    """One comparison."""

    tasks: tuple[str, ...] = TASKS
    """Tasks compared."""
    algos: tuple[str, ...] = ("ppo", "grpo")
    """Algorithms (each on both twins)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Training seeds."""
    steps: int = 50_000
    """Environment steps per run (the fixed budget)."""
    n_envs: int = 16
    """Rows decoded together."""
    n_eval: int = 50
    """Test prompts per split."""
    samples_per_prompt: int = 3
    """Sampled replies per test prompt."""
    splits: tuple[str, ...] = ("test_id", "test_ood")
    """Test splits."""
    kl_beta: float | None = None
    """KL toward the fair start for the on-policy SB3 algorithms (GRPO uses its YAML's k3 beta)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Env keywords shared by every run (e.g. a backbone directory)."""
    hyperparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per algorithm, keywords that replace the YAML ``default`` entry's (the same for both twins)."""
    out: str = "benchmarks/results/compare_action_spaces"
    """Output directory."""

    @classmethod
    def quick(cls, **overrides: Any) -> CompareConfig:
        """A few-minute version for 2 CPU cores: PPO only, 3 seeds, a small budget and small test sets."""
        base: dict[str, Any] = {"algos": ("ppo",), "steps": 4096, "n_eval": 16, "out": "lam_demo/compare"}
        return cls(**{**base, **overrides})


def _curve(points: list[tuple[int, float]], steps: int, bins: int = 10) -> list[float]:
    edges = np.linspace(0, steps, bins + 1)
    xs = np.array([p[0] for p in points]) if points else np.zeros(0)
    ys = np.array([p[1] for p in points]) if points else np.zeros(0)
    return [float(ys[(xs > lo) & (xs <= hi)].mean()) if ((xs > lo) & (xs <= hi)).any() else float("nan")
            for lo, hi in zip(edges[:-1], edges[1:])]


def run_one(config: CompareConfig, task: str, kind: str, algo: str, seed: int) -> dict[str, Any]:
    """Train and score one (task, action space, algorithm, seed)."""
    eid = env_id(task, kind)
    out = Path(config.out) / "runs" / f"{algo}_{task}_{kind}_s{seed}"
    # The YAML "default" entry for both twins: identical settings are the point of the comparison.
    from lam_agents.algos import load_hyperparams

    overrides = {**load_hyperparams(algo, "default"), **config.hyperparams.get(algo, {})}
    overrides.pop("n_envs", None)
    curve = CurveCallback()
    started = time.perf_counter()
    train(TrainConfig(env_id=eid, algo=algo, steps=config.steps, seed=seed, n_envs=config.n_envs,
                      overrides=overrides, fair_start=True, kl_beta=config.kl_beta if algo != "grpo" else None,
                      out=str(out), env_kwargs=config.env_kwargs, checkpoint_every=0, progress_bar=False,
                      tensorboard=False, verbose=0, overwrite=True), extra_callbacks=[curve])
    train_s = time.perf_counter() - started
    model, _ = load_agent(out)
    scores = {s: score_split(model, eid, config.env_kwargs, s, config.n_eval, config.samples_per_prompt, seed,
                             n_envs=config.n_envs) for s in config.splits}
    row = {"task": task, "action_space": kind, "algo": algo, "seed": seed, "train_seconds": train_s,
           "curve": _curve(curve.points, config.steps),
           **{f"{s}_total": sc.total[0] for s, sc in scores.items()},
           **{f"{s}_dimensions": {d: v[0] for d, v in sc.dimensions.items()} for s, sc in scores.items()}}
    logger.info("%s %s %s seed %d: %s (%.0f s)", algo, task, kind, seed,
                {s: round(sc.total[0], 3) for s, sc in scores.items()}, train_s)
    return row


def format_table(rows: list[dict[str, Any]], splits: tuple[str, ...]) -> str:
    """Markdown table: mean ± std over seeds of each split's total judge ratio, latent next to token."""
    head = "| task | algo | action space | " + " | ".join(splits) + " | train s/run |"
    lines = [head, "|" + "---|" * (4 + len(splits))]
    keys = sorted({(r["task"], r["algo"], r["action_space"]) for r in rows})
    for task, algo, kind in keys:
        sel = [r for r in rows if (r["task"], r["algo"], r["action_space"]) == (task, algo, kind)]
        cells = []
        for s in splits:
            vals = np.array([r[f"{s}_total"] for r in sel])
            cells.append(f"{np.nanmean(vals):.3f} ± {np.nanstd(vals):.3f} (n={len(vals)})")
        secs = np.mean([r["train_seconds"] for r in sel])
        lines.append(f"| {task} | {algo} | {kind} | " + " | ".join(cells) + f" | {secs:.0f} |")
    return "\n".join(lines)


def plot_curves(rows: list[dict[str, Any]], steps: int, path: Path) -> Path:
    """Training judge ratio against steps (mean over seeds), one panel per task, latent solid and token dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in rows})
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for algo in sorted({r["algo"] for r in rows}):
            for kind, style in (("latent", "-"), ("token", "--")):
                sel = [r["curve"] for r in rows if (r["task"], r["algo"], r["action_space"]) == (task, algo, kind)]
                if not sel:
                    continue
                data = np.array(sel, dtype=float)
                seen = np.isfinite(data).sum(axis=0)
                curve = np.where(seen > 0, np.nansum(data, axis=0) / np.maximum(seen, 1), np.nan)
                xs = np.linspace(0, steps, len(curve) + 1)[1:]
                ax.plot(xs, curve, style, label=f"{algo} {kind}")
        ax.set_title(task)
        ax.set_xlabel("environment steps (tokens)")
        ax.set_ylabel("training judge ratio")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_comparison(
    config: CompareConfig, command: str | None = None, progress: bool = True
) -> tuple[list[dict[str, Any]], str]:
    """Run every (task, algo, action space, seed), write the results and return the rows and the table.

    Args:
        config: What to compare.
        command: The exact command recorded in ``results.md`` (default: this process's argv).
        progress: Show a progress bar over the runs.
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [(task, kind, algo, seed)
            for task in config.tasks for algo in config.algos for seed in config.seeds for kind in ("latent", "token")]
    rows = []
    bar = tqdm(runs, desc="latent vs token", unit="run", disable=not progress)
    for task, kind, algo, seed in bar:
        bar.set_postfix_str(f"{algo} {task} {kind} seed {seed}")
        rows.append(run_one(config, task, kind, algo, seed))
    table = format_table(rows, config.splits)
    plot_curves(rows, config.steps, out / "curves.png")
    (out / "results.json").write_text(json.dumps({"config": asdict(config), "rows": rows}, indent=1, default=str))
    versions = _versions()
    command = command or " ".join(sys.argv)
    (out / "results.md").write_text(
        f"# Latent vs token action spaces\n\nCommand: `{command}`\n\nCommit: `{versions['commit']}`\n\n"
        f"Budget: {config.steps} steps per run, fair start, seeds {list(config.seeds)}, {config.n_eval} test prompts "
        f"x {config.samples_per_prompt} samples per split; cells are mean ± std over seeds of the total judge ratio."
        f"\n\n{table}\n\n![learning curves](curves.png)\n"
    )
    return rows, table
