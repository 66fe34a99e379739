"""The training-loop half of ``env_throughput.py``: SB3 PPO ``learn()`` with the fair start against the env alone.

``train_rate`` gives ``train_over_env_16``'s two sides in one run: ``learn()``'s steps/s on ``TRAIN_NUM_ENVS`` latent
envs, and the env's when it replays that run's own actions on a fresh env of the same seed (same replies, episodes
and prefills), so the ratio is the policy's forward, the update and SB3's loop, nothing else.
``benchmarks/profile_train.py`` profiles the same run (:func:`train_model`). Imported from beside this file
(``benchmarks/`` is not a package).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from lam_envs.backbone import Backbone

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/timing.py, also when loaded by path
from timing import clear_caches, sync  # noqa: E402

TRAIN_NUM_ENVS = 16
"""Rows of the timed training run (the key's 16)."""


def action_log(venv: Any) -> Any:
    """``venv`` in an SB3 ``VecEnvWrapper`` that keeps every action and reward stepped through it (``.actions``,
    ``.rewards``), to replay a training run's actions on a fresh env of the same seed, and the seconds each
    ``step_wait`` took (``.step_seconds``: the env's own share of the run)."""
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class _ActionLog(VecEnvWrapper):
        def __init__(self, inner: Any) -> None:
            super().__init__(inner)
            self.actions: list[np.ndarray] = []
            self.rewards: list[np.ndarray] = []
            self.step_seconds: list[float] = []

        def reset(self) -> Any:
            return self.venv.reset()

        def step_async(self, actions: np.ndarray) -> None:
            self.actions.append(np.array(actions, copy=True))
            self.venv.step_async(actions)

        def step_wait(self) -> Any:
            start = time.perf_counter()
            obs, rewards, dones, infos = self.venv.step_wait()
            self.step_seconds.append(time.perf_counter() - start)
            self.rewards.append(np.array(rewards, copy=True))
            return obs, rewards, dones, infos

    return _ActionLog(venv)


def train_model(args: argparse.Namespace, kwargs: dict[str, Any], out: Path,
                env_id: str) -> tuple[Any, Any, int, dict[str, Any]]:
    """The PPO run :func:`train_rate` times: ``(model, venv, rollout, params)``, ``venv`` in an :func:`action_log`.

    Built as :func:`lam_agents.train.train` builds a run (hyperparameters as :mod:`lam_agents.learning` picks them:
    the YAML ``default`` entry, ``--train-n-steps`` overriding ``n_steps``), the fair start on ``TRAIN_NUM_ENVS``
    latent envs; ``rollout`` is the steps of one rollout (``n_steps x n_envs``).
    """
    from lam_agents.algos import load_hyperparams
    from lam_agents.envs import make_vec_env
    from lam_agents.train import TrainConfig, build_model, resolve_hyperparams

    overrides = load_hyperparams("ppo", "default")
    overrides.pop("n_envs", None)
    if args.train_n_steps is not None:
        overrides["n_steps"] = args.train_n_steps
    n_envs = TRAIN_NUM_ENVS
    rollout = int(overrides["n_steps"]) * n_envs
    overrides["batch_size"] = min(int(overrides["batch_size"]), rollout)  # SB3 warns on a batch over the rollout
    config = TrainConfig(env_id=env_id, algo="ppo", steps=rollout * (1 + args.train_rollouts),
                         seed=args.seed, n_envs=n_envs, overrides=overrides, fair_start=True, out=str(out),
                         env_kwargs=kwargs, checkpoint_every=0, sample_every=0, progress_bar=False,
                         tensorboard=False, verbose=0)
    params, n_envs = resolve_hyperparams(config)
    venv = action_log(make_vec_env(config.env_id, n_envs, config.seed, kwargs))
    return build_model(config, venv, params), venv, rollout, params


def train_rate(args: argparse.Namespace, kwargs: dict[str, Any], out: Path, backbone: Backbone,
               env_id: str) -> dict[str, Any]:
    """Steps/s of SB3 PPO ``learn()`` with the fair start on ``TRAIN_NUM_ENVS`` latent envs (:func:`train_model`),
    and of the env alone doing the same work: the run's own actions replayed on a fresh env of the same seed.

    Timed around ``learn()`` alone: one untimed rollout and update first (policy construction, first reset,
    allocator warm-up), then ``--train-rollouts`` rollouts and updates. Decoding is greedy, so the replay writes the
    same replies, ends the same episodes and prefills the same prompts (both start with empty caches);
    ``replay_matches`` says whether its rewards equal the run's, step for step. The replay runs ``--repeats`` times
    (the median rate counts: one replay of a few seconds varied by ±10% on the quiet 2-core machine).
    ``env_seconds_in_run`` is the time the run's own env steps took inside ``learn()``, so
    ``env_share_of_run`` = that over ``learn()``'s time is what the run spent outside the env, measured in the run
    itself.
    """
    from lam_agents.envs import make_vec_env

    clear_caches(backbone)
    model, venv, rollout, params = train_model(args, kwargs, out, env_id)
    n_envs = venv.num_envs
    try:
        model.learn(rollout)
        untimed = len(venv.actions)
        before = model.num_timesteps
        start = time.perf_counter()
        model.learn(rollout * args.train_rollouts, reset_num_timesteps=False)
        seconds = time.perf_counter() - start
        steps = model.num_timesteps - before
        actions, rewards = venv.actions, venv.rewards
        env_seconds = float(sum(venv.step_seconds[untimed:]))
    finally:
        venv.close()
    replay_rates, matches = [], True
    for _ in range(args.repeats):
        clear_caches(backbone)
        replay = make_vec_env(env_id, n_envs, args.seed, kwargs)
        replayed: list[np.ndarray] = []
        try:
            replay.reset()
            for a in actions[:untimed]:
                replayed.append(replay.step(a)[1])
            sync(backbone.device)
            start = time.perf_counter()
            for a in actions[untimed:]:
                replayed.append(replay.step(a)[1])
            sync(backbone.device)
            replay_rates.append((len(actions) - untimed) * n_envs / (time.perf_counter() - start))
        finally:
            replay.close()
        matches &= len(replayed) == len(rewards) and all(np.array_equal(x, y) for x, y in zip(replayed, rewards))
    return {"algo": "ppo", "fair_start": True, "num_envs": n_envs, "n_steps": int(params["n_steps"]),
            "batch_size": int(params["batch_size"]), "n_epochs": int(params["n_epochs"]), "timed_steps": steps,
            "steps_per_s": steps / seconds, "replay_steps_per_s": statistics.median(replay_rates),
            "replay_rates": replay_rates, "replay_matches": matches, "learn_seconds": seconds,
            "env_seconds_in_run": env_seconds, "env_share_of_run": env_seconds / seconds}
