"""Resumable checkpoints of a training run: the SB3 callback that takes them and the function that restores one.

A checkpoint is taken between two rollouts (SB3's ``on_rollout_start``: the last update is done, the next rollout
has not begun), so it needs no rollout buffer: the policy and optimiser (SB3's ``model.zip``), the step and update
counts, the process RNGs, the last observation, the monitor's running episode sums and the env's rows (see
:meth:`lam_agents.vec_env.ConversationVecEnv.get_state`). A resumed run then collects exactly the rollout the
uninterrupted run would have collected next.

Restoring loads only tensors (``set_parameters``, which reads the zip's ``.pth`` entries with ``weights_only``) and
JSON / ``.npz`` files (``allow_pickle=False``): resuming never unpickles. The model itself is rebuilt from the run's
configuration first, as at the start of the run.

A stop request (SIGINT / SIGTERM, see :func:`lam_agents.train.train`) ends training at the next step; the
"interrupted" checkpoint is the last point between two rollouts, kept in memory for that purpose, so no collected
step is half-counted.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecMonitor

from lam_agents import run_dir as rd

logger = logging.getLogger(__name__)


def _flat_obs(obs: Any, prefix: str = "last_obs") -> dict[str, np.ndarray]:
    if isinstance(obs, dict):
        return {f"{prefix}.{k}": np.asarray(v) for k, v in obs.items()}
    return {prefix: np.asarray(obs)}


def _unflat_obs(arrays: dict[str, np.ndarray], prefix: str = "last_obs") -> Any:
    if prefix in arrays:
        return arrays[prefix]
    keys = [k for k in arrays if k.startswith(prefix + ".")]
    return {k[len(prefix) + 1 :]: arrays[k] for k in keys} if keys else None


def _monitor(venv: Any) -> VecMonitor | None:
    while venv is not None:
        if isinstance(venv, VecMonitor):
            return venv
        venv = getattr(venv, "venv", None)
    return None


def _env_with_state(venv: Any) -> Any:
    inner = getattr(venv, "unwrapped", venv)
    return inner if hasattr(inner, "get_state") and hasattr(inner, "set_state") else None


class ResumableCheckpoint(BaseCallback):
    """Takes a checkpoint every ``every`` env steps between rollouts, and one on a stop request.

    Args:
        out: The run directory (checkpoints go under ``out/checkpoints/<step>``).
        every: Env steps between checkpoints (0: only on a stop request).
        env_id: Stamped into each checkpoint's model.
        algo: Stamped into each checkpoint's model.
    """

    def __init__(self, out: Path, every: int, env_id: str, algo: str) -> None:
        super().__init__(verbose=0)
        self.out, self.every, self.env_id, self.algo = Path(out), int(every), env_id, algo
        self.stop_requested: str | None = None
        self.stopped_by: str | None = None
        self.interrupted_step = 0
        self.interrupted_checkpoint: Path | None = None
        self._last_saved = 0
        self._boundary: tuple[int, int, dict[str, Any], dict[str, np.ndarray]] | None = None

    def request_stop(self, reason: str) -> None:
        """Stop at the next step and save an interrupted checkpoint (called from a signal handler)."""
        self.stop_requested = reason

    # ----------------------------------------------------------------------------------------------- callbacks
    def _on_training_start(self) -> None:
        self._last_saved = self.model.num_timesteps

    def _on_rollout_start(self) -> None:
        self._boundary = self._capture()
        if self.stop_requested is not None:
            self._stop()
        elif self.every and self.model.num_timesteps - self._last_saved >= self.every:
            self._save(self._boundary, "periodic")
            self._last_saved = self.model.num_timesteps

    def _on_step(self) -> bool:
        if self.stop_requested is not None:
            if self.stopped_by is None:
                self._stop()
            return False
        return True

    # ------------------------------------------------------------------------------------------------- saving
    def _capture(self) -> tuple[int, int, dict[str, Any], dict[str, np.ndarray]]:
        model = self.model
        rng_meta, arrays = rd.rng_state()
        state: dict[str, Any] = {"rng": rng_meta, "env": None, "monitor": None,
                                 "episode_num": int(getattr(model, "_episode_num", 0))}
        if getattr(model, "_last_obs", None) is not None:
            arrays.update(_flat_obs(model._last_obs))
        if getattr(model, "_last_episode_starts", None) is not None:
            arrays["last_episode_starts"] = np.asarray(model._last_episode_starts, dtype=bool)
        env = _env_with_state(model.get_env())
        if env is not None:
            env_state, env_arrays = env.get_state()
            state["env"] = env_state
            arrays.update({f"env.{k}": v for k, v in env_arrays.items()})
        monitor = _monitor(model.get_env())
        if monitor is not None:
            state["monitor"] = {"episode_count": int(monitor.episode_count)}
            arrays["monitor.returns"] = np.asarray(monitor.episode_returns, dtype=np.float64)
            arrays["monitor.lengths"] = np.asarray(monitor.episode_lengths, dtype=np.int64)
        return int(model.num_timesteps), int(getattr(model, "_n_updates", 0)), state, copy.deepcopy(arrays)

    def _save(self, boundary: tuple[int, int, dict[str, Any], dict[str, np.ndarray]], reason: str) -> Path:
        step, n_updates, state, arrays = boundary
        model = self.model
        now_steps, now_updates = model.num_timesteps, getattr(model, "_n_updates", 0)
        # The weights and optimiser have not changed since the boundary (updates run after a rollout); only the
        # counters moved on during a cut-short rollout, so they are put back for the save.
        model.num_timesteps = step
        if hasattr(model, "_n_updates"):
            model._n_updates = n_updates
        try:
            state = {**state, "step": step, "n_updates": n_updates, "reason": reason}
            folder = rd.save_checkpoint(self.out, step, model, state, arrays, self.env_id, self.algo)
        finally:
            model.num_timesteps = now_steps
            if hasattr(model, "_n_updates"):
                model._n_updates = now_updates
        logger.info("checkpoint (%s) at step %d: %s", reason, step, folder)
        return folder

    def _stop(self) -> None:
        self.stopped_by = self.stop_requested
        if self._boundary is None:
            self.interrupted_step = int(self.model.num_timesteps)
            return
        self.interrupted_step = self._boundary[0]
        self.interrupted_checkpoint = self._save(self._boundary, f"interrupted ({self.stopped_by})")


def restore_checkpoint(model: Any, folder: Path, venv: Any, env_id: str, algo: str, device: str = "cpu") -> Any:
    """Put ``model`` (freshly built for the run, on ``venv``) and ``venv`` in the state of checkpoint ``folder``.

    Args:
        model: The run's model, built as at the start of the run.
        folder: A checkpoint folder (see :mod:`lam_agents.run_dir`).
        venv: The model's env.
        env_id: The run's env id (the checkpoint's stamp must name it).
        algo: The run's algorithm (likewise).
        device: Torch device of the tensors.

    Returns:
        ``model``, ready for ``learn(..., reset_num_timesteps=False)``.

    Raises:
        RunDirError: if the checkpoint's model was stamped with another env or algorithm than the run's.
    """
    state, arrays = rd.load_checkpoint_state(folder)
    zip_path = folder / rd.MODEL_FILE
    stamp = rd.read_stamp(zip_path) or {}
    run_stamp = {"env_id": env_id, "algo": algo}
    if stamp != run_stamp:
        raise rd.RunDirError(f"{zip_path} belongs to {stamp}, not to this run ({run_stamp})")
    model.set_parameters(str(zip_path), exact_match=True, device=device)
    model.num_timesteps = int(state["step"])
    if hasattr(model, "_n_updates"):
        model._n_updates = int(state["n_updates"])
    if hasattr(model, "_episode_num"):
        model._episode_num = int(state.get("episode_num", 0))
    env = _env_with_state(venv)
    if env is not None and state.get("env") is not None:
        env.set_state(state["env"], {k[4:]: v for k, v in arrays.items() if k.startswith("env.")})
    last_obs = _unflat_obs(arrays)
    if last_obs is not None:
        model._last_obs = last_obs
    if "last_episode_starts" in arrays:
        model._last_episode_starts = arrays["last_episode_starts"]
    monitor = _monitor(venv)
    if monitor is not None and state.get("monitor") is not None:
        monitor.episode_returns = arrays["monitor.returns"].astype(np.float32)
        monitor.episode_lengths = arrays["monitor.lengths"]
        monitor.episode_count = int(state["monitor"]["episode_count"])
    rd.set_rng_state(state["rng"], arrays)
    return model
