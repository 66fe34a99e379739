"""Overhead of the Ray rollout-worker facade over a local vector env of the same total size (one run, no repeats).

    python benchmarks/ray_overhead.py --env lam/MMRole-Latent-v0 --n-envs 8 --workers 2 --steps 200

Both envs step the same random actions (seed 0) on the embedded default models; the first ``--warmup`` steps are
not timed. Prints steps/s (env steps × rows per second) for each and the ratio Ray / local. On a machine whose
cores are shared, the numbers are rough: with K workers the K actors and the driver compete for the same cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _rate(venv, steps: int, warmup: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    venv.reset()
    n = venv.action_space.n
    for _ in range(warmup):
        venv.step(rng.integers(n, size=venv.num_envs))
    started = time.perf_counter()
    for _ in range(steps):
        venv.step(rng.integers(n, size=venv.num_envs))
    return steps * venv.num_envs / (time.perf_counter() - started)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="lam/MMRole-Latent-v0")
    p.add_argument("--n-envs", type=int, default=8, help="rows in total (local) = workers × rows per worker")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--worker-cpus", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch threads of the local env (= worker_cpus each)")
    args = p.parse_args()

    import torch

    from lam_agents.envs import make_vec_env
    from lam_agents.ray_workers import RaySettings

    torch.set_num_threads(args.threads)
    local = make_vec_env(args.env, args.n_envs, 0)
    local_rate = _rate(local, args.steps, args.warmup, 0)
    local.close()
    remote = make_vec_env(args.env, args.n_envs, 0, workers=args.workers,
                          ray_settings=RaySettings(worker_cpus=args.worker_cpus))
    ray_rate = _rate(remote, args.steps, args.warmup, 0)
    remote.close()
    print(f"{args.env}, {args.n_envs} rows, {args.steps} timed steps")
    print(f"local vector env:          {local_rate:8.0f} steps/s")
    print(f"Ray, {args.workers} workers x {args.n_envs // args.workers}: {ray_rate:8.0f} steps/s")
    print(f"ratio Ray / local:         {ray_rate / local_rate:8.2f}")


if __name__ == "__main__":
    main()
