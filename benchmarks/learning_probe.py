"""Short-budget learning probe: where does fair-start RL on the lam envs fail to learn?

One run = one (env, algo, seed, overrides). It scores the untrained fair-start policy and the trained one on test_id
(``lam_agents.evaluate.score_split``), and logs per update the training judge ratio, PPO's explained variance,
approx_kl and clip fraction. One JSON line per run is appended to ``benchmarks/results/learning_probe/runs.jsonl``::

    OMP_NUM_THREADS=1 python benchmarks/learning_probe.py --env lam/MMRole-Latent-v0 --steps 20000 --seed 0 \
        --overrides '{"learning_rate": 1e-3}' --tag lr1e-3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback, CallbackList  # noqa: E402

from lam_agents.algos import load_hyperparams  # noqa: E402
from lam_agents.callbacks import CurveCallback  # noqa: E402
from lam_agents.envs import make_vec_env  # noqa: E402
from lam_agents.evaluate import score_split  # noqa: E402
from lam_agents.fair_start import StartKLPenalty  # noqa: E402
from lam_agents.train import TrainConfig, build_model, resolve_hyperparams  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "learning_probe"


class TrainStats(BaseCallback):
    """Copy the train/* values SB3 recorded for the previous update at each rollout end."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        vals = {k: float(v) for k, v in self.model.logger.name_to_value.items()
                if k.startswith("train/") and isinstance(v, (int, float, np.floating))}
        if vals:
            vals["t"] = self.num_timesteps
            self.rows.append(vals)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--env", default="lam/MMRole-Latent-v0")
    p.add_argument("--algo", default="ppo")
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-envs", type=int, default=16)
    p.add_argument("--overrides", default="{}")
    p.add_argument("--env-kwargs", default="{}")
    p.add_argument("--kl-beta", type=float, default=None)
    p.add_argument("--yaml-default", action="store_true", help="use the YAML default entry (as compare.py does)")
    p.add_argument("--n-eval", type=int, default=32)
    p.add_argument("--no-start-eval", action="store_true")
    p.add_argument("--tag", default="")
    a = p.parse_args()
    torch.set_num_threads(1)
    overrides = json.loads(a.overrides)
    if a.yaml_default:
        base = load_hyperparams(a.algo, "default")
        base.pop("n_envs", None)
        overrides = {**base, **overrides}
    env_kwargs = json.loads(a.env_kwargs)
    config = TrainConfig(env_id=a.env, algo=a.algo, steps=a.steps, seed=a.seed, n_envs=a.n_envs, overrides=overrides,
                         fair_start=True, kl_beta=a.kl_beta, out=f"/tmp/probe_runs/{a.tag or 'run'}",
                         env_kwargs=env_kwargs, checkpoint_every=0, progress_bar=False, tensorboard=False, verbose=0)
    params, n_envs = resolve_hyperparams(config)
    venv = make_vec_env(a.env, n_envs, a.seed, env_kwargs)
    model = build_model(config, venv, params)
    score = lambda: score_split(model, a.env, env_kwargs, "test_id", a.n_eval, 2, a.seed, n_envs=16)  # noqa: E731
    start = None if a.no_start_eval else score()
    curve, stats = CurveCallback(), TrainStats()
    cbs = [curve, stats] + ([StartKLPenalty(a.kl_beta)] if a.kl_beta and a.algo != "grpo" else [])
    t0 = time.perf_counter()
    model.learn(a.steps, callback=CallbackList(cbs))
    secs = time.perf_counter() - t0
    end = score()
    pts = np.array(curve.points) if curve.points else np.zeros((0, 2))
    q = max(len(pts) // 5, 1)
    keys = ("train/explained_variance", "train/approx_kl", "train/clip_fraction", "train/entropy_loss",
            "train/group_return_std", "train/kl_k3")
    half = stats.rows[len(stats.rows) // 2:]
    row = {
        "tag": a.tag, "env": a.env, "algo": a.algo, "seed": a.seed, "steps": a.steps, "overrides": overrides,
        "env_kwargs": env_kwargs, "kl_beta": a.kl_beta, "n_envs": n_envs, "seconds": round(secs, 1),
        "episodes": int(len(pts)),
        "train_first": float(pts[:q, 1].mean()) if len(pts) else None,
        "train_last": float(pts[-q:, 1].mean()) if len(pts) else None,
        "train_std": float(pts[:, 1].std()) if len(pts) else None,
        "test_id_start": None if start is None else round(start.total[0], 4),
        "test_id_end": round(end.total[0], 4),
        "reply_tokens_end": round(end.mean_reply_tokens, 1),
        "dims_start": None if start is None else {d: round(v[0], 3) for d, v in start.dimensions.items()},
        "dims_end": {d: round(v[0], 3) for d, v in end.dimensions.items()},
        "sample_reply_end": end.replies[:1],
        **{k.split("/")[1] + "_2nd_half": round(float(np.mean([r[k] for r in half if k in r])), 4)
           for k in keys if any(k in r for r in half)},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "runs.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
