"""Rollout workers on Ray: K actors, each owning one batched conversation env, behind SB3's ``VecEnv`` and
Gymnasium's ``VectorEnv``.

Every worker is a Ray actor that builds its own :class:`~lam_envs.envs.vector.ConversationVectorEnv` (backbone,
world model, judge and KV cache live in the actor, on the actor's device) of N rows. The facades present the K·N
rows as one vector env: ``step_async`` sends each worker its slice of the actions, ``step_wait`` gathers the slices
in worker order. Only actions, observations, rewards, flags and the per-row ``info`` dicts (ids, reply text, terminal
observations) cross the process boundary, never images or caches::

    venv = RayVecEnv("lam/MMRole-Latent-v0", num_workers=2, envs_per_worker=8, env_kwargs={})
    venv.seed(0)
    model = PPO("MlpPolicy", VecMonitor(venv), n_steps=64).learn(10_000)

**Same results, different topology.** Row ``k·N + j`` of the facade *is* worker k's row j: seeds, reset options
(e.g. GRPO's per-row ``sample_index`` pins) and actions are split by that rule, so with the same seeds and actions
K workers × N rows reproduce a local vector env of K·N rows (``make_vec_env`` seeds row i with ``seed + i``). A
GRPO group pins each of its rows to its prompt, so a group split across two workers still writes every reply from
that prompt.

**Failures stop the run.** Every ``ray.get`` has a timeout; a worker that raised, died (``ray.kill``, a crash) or
did not answer in time raises :class:`RolloutWorkerError` naming the worker and its error, after which the facade
kills its actors, so training stops instead of hanging.

Ray is imported only when workers are started, so importing this module (or ``lam_agents.envs``) needs no Ray.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from lam_agents.vec_env import row_info
from lam_envs.envs.setup import EnvParts

logger = logging.getLogger(__name__)

__all__ = ["RaySettings", "RayVecEnv", "RayVectorEnv", "RolloutWorkerError", "WorkerPool"]


class RolloutWorkerError(RuntimeError):
    """A rollout worker raised, died or timed out; ``worker`` is its index (0 .. K-1)."""

    def __init__(self, worker: int, num_workers: int, call: str, cause: BaseException | str) -> None:
        self.worker, self.call = worker, call
        super().__init__(
            f"rollout worker {worker} of {num_workers} failed in {call}(): {cause}; the run stops here (the other "
            "workers were shut down). Resume from the last checkpoint with `lam train --resume`."
        )


@dataclass(frozen=True)
class RaySettings:
    """Where the workers run and what each one reserves (the ``lam train --ray-*`` / ``--worker-*`` flags)."""

    address: str | None = None
    """Ray cluster to join (``"auto"``, ``"ray://host:10001"``); ``None`` starts a local Ray on this machine."""
    worker_cpus: float = 1.0
    """CPUs reserved by each worker (also its torch thread count, at least 1)."""
    worker_gpus: float = 0.0
    """GPUs reserved by each worker (1: Ray gives the worker its own GPU; pass the env keyword ``device="cuda"``)."""
    timeout_s: float = 600.0
    """Seconds a worker may take for one call before the run stops (a first reset loads the models)."""

    def __post_init__(self) -> None:
        if not self.worker_cpus > 0:
            raise ValueError(f"worker_cpus={self.worker_cpus} must be > 0")
        if self.worker_gpus < 0:
            raise ValueError(f"worker_gpus={self.worker_gpus} must be >= 0")
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s={self.timeout_s} must be > 0 (it keeps a dead worker from hanging the run)")


class _Worker:
    """The actor body: one batched env of N rows (made a Ray actor by :class:`WorkerPool`), held as its Gymnasium
    :class:`~lam_envs.envs.vector.ConversationVectorEnv` (``vector``, for the ``vector_*`` methods that serve
    :class:`RayVectorEnv`) and that env's SB3 adapter :class:`~lam_agents.vec_env.ConversationVecEnv` (``env``, for
    the SB3-side methods that serve :class:`RayVecEnv`)."""

    def __init__(self, env_id: str, num_envs: int, env_kwargs: dict[str, Any], threads: int) -> None:
        import torch

        import lam_envs  # noqa: F401  (registers the lam/ ids in this process)
        from lam_agents.vec_env import ConversationVecEnv
        from lam_envs.envs.vector import ConversationVectorEnv

        torch.set_num_threads(threads)
        vector = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                              **env_kwargs).unwrapped
        assert isinstance(vector, ConversationVectorEnv)  # every lam/ id's vector entry point
        self.vector = vector
        self.env = ConversationVecEnv(vector)

    def spaces(self) -> tuple[gym.Space, gym.Space, dict[str, Any]]:
        summary = {"num_samples": self.env.num_samples, "max_reply_tokens": self.env.max_reply_tokens,
                   "render_mode": self.env.render_mode}
        return self.env.observation_space, self.env.action_space, summary

    def ping(self) -> bool:
        return True

    # SB3 side
    def reset(self, seeds: list[int | None], options: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
        self.env.set_seeds(seeds)  # consumed by reset(), as SB3's VecEnv.seed / set_options are
        self.env.set_options(list(options))
        obs = self.env.reset()
        return obs, self.env.reset_infos

    def step(self, actions: np.ndarray) -> tuple[Any, ...]:
        obs, rewards, dones, infos = self.env.step(np.array(actions))  # Ray hands over read-only arrays
        restarted = {j: self.env.reset_infos[j] for j in np.flatnonzero(dones).tolist()}
        return obs, rewards, dones, infos, restarted

    def get_attr(self, name: str, rows: list[int]) -> list[Any]:
        return self.env.get_attr(name, rows)

    def set_attr(self, name: str, value: Any, rows: list[int]) -> None:
        self.env.set_attr(name, value, rows)

    def env_method(self, name: str, args: tuple, kwargs: dict[str, Any], rows: list[int]) -> list[Any]:
        return self.env.env_method(name, *args, indices=rows, **kwargs)

    def get_images(self) -> list[np.ndarray | None]:
        return list(self.env.get_images())

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return self.env.get_state()

    def set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.env.set_state(state, arrays)

    # Gymnasium side
    def vector_reset(self, seed: list[int | None] | None, options: dict[str, Any] | None) -> tuple[Any, dict]:
        return self.vector.reset(seed=seed, options=options)

    def vector_step(self, actions: np.ndarray) -> tuple[Any, ...]:
        return self.vector.step(np.array(actions))

    def vector_observations(self) -> Any:
        return self.vector.observations()

    def vector_render(self) -> Any:
        return self.vector.render()

    def close(self) -> None:
        self.env.close()


class WorkerPool:
    """K Ray actors, each with a batched env of ``envs_per_worker`` rows; rows are numbered worker-major.

    Args:
        env_id: A registered lam id.
        num_workers: K.
        envs_per_worker: N, rows of each worker's batched env.
        env_kwargs: Keywords of every worker's env (sent to each actor; a loaded ``Backbone`` would be copied, so
            pass checkpoint paths).
        settings: Cluster address, resources per worker and the call timeout.

    Raises:
        ValueError: for K or N below 1.
        RolloutWorkerError: if a worker cannot build its env.
    """

    def __init__(self, env_id: str, num_workers: int, envs_per_worker: int, env_kwargs: dict[str, Any] | None = None,
                 settings: RaySettings = RaySettings()) -> None:
        import ray

        if num_workers < 1 or envs_per_worker < 1:
            raise ValueError(f"num_workers={num_workers} and envs_per_worker={envs_per_worker} must be >= 1")
        self.num_workers, self.envs_per_worker, self.settings = num_workers, envs_per_worker, settings
        if not ray.is_initialized():
            init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
            if settings.address is not None:
                init["address"] = settings.address
            ray.init(**init)
        actor = ray.remote(num_cpus=settings.worker_cpus, num_gpus=settings.worker_gpus, max_restarts=0)(_Worker)
        threads = max(1, int(settings.worker_cpus))
        self.actors = [actor.remote(env_id, envs_per_worker, dict(env_kwargs or {}), threads)
                       for _ in range(num_workers)]
        self._closed = False
        self.observation_space, self.action_space, self.summary = self.call_one(0, "spaces")
        self.gather("ping")  # every worker built its env (or the error names the one that did not)

    @property
    def num_envs(self) -> int:
        return self.num_workers * self.envs_per_worker

    def rows_of(self, worker: int) -> range:
        """The facade rows worker ``worker`` holds."""
        return range(worker * self.envs_per_worker, (worker + 1) * self.envs_per_worker)

    def split(self, rows: Iterable[int]) -> dict[int, list[int]]:
        """Facade rows grouped by worker, as each worker's local row numbers (in the given order)."""
        out: dict[int, list[int]] = {}
        for row in rows:
            out.setdefault(row // self.envs_per_worker, []).append(row % self.envs_per_worker)
        return out

    # ------------------------------------------------------------------------------------------------ calls
    def submit(self, worker: int, method: str, *args: Any) -> Any:
        if self._closed:
            raise RuntimeError("the rollout workers were shut down (close() or an earlier worker failure)")
        return getattr(self.actors[worker], method).remote(*args)

    def wait(self, refs: dict[int, Any], method: str) -> dict[int, Any]:
        """The results of ``refs`` (worker -> object ref), in worker order.

        Raises:
            RolloutWorkerError: for the first worker (in index order) that failed, died or timed out.
        """
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        out: dict[int, Any] = {}
        for worker, ref in refs.items():
            try:
                out[worker] = ray.get(ref, timeout=self.settings.timeout_s)
            except RayTaskError as exc:
                self._fail(worker, method, exc.cause if exc.cause is not None else exc)
            except RayActorError as exc:
                self._fail(worker, method, f"the actor died ({type(exc).__name__}: {str(exc).splitlines()[0]})")
            except GetTimeoutError:
                self._fail(worker, method, f"no answer within timeout_s={self.settings.timeout_s} (if it never "
                           "started, the cluster lacks the worker_cpus / worker_gpus it reserves)")
        return out

    def _fail(self, worker: int, method: str, cause: BaseException | str) -> None:
        error = RolloutWorkerError(worker, self.num_workers, method, cause if isinstance(cause, str) else
                                   f"{type(cause).__name__}: {cause}")
        logger.error("%s", error)
        self.close()
        raise error from (cause if isinstance(cause, BaseException) else None)

    def call_one(self, worker: int, method: str, *args: Any) -> Any:
        return self.wait({worker: self.submit(worker, method, *args)}, method)[worker]

    def gather(self, method: str, args: Callable[[int], tuple] | None = None) -> list[Any]:
        """Call ``method`` on every worker at once (``args(k)`` gives worker k's arguments); results in order."""
        refs = {k: self.submit(k, method, *(args(k) if args else ())) for k in range(self.num_workers)}
        return [r for _, r in sorted(self.wait(refs, method).items())]

    def close(self) -> None:
        """Kill the actors (idempotent; never waits on a dead one)."""
        if self._closed:
            return
        self._closed = True
        import ray

        for actor in self.actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001  (already dead: nothing left to stop)
                pass


def _concat(parts: Sequence[Any]) -> Any:
    if isinstance(parts[0], dict):
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    return np.concatenate(parts)


class RayVecEnv(VecEnv):
    """K rollout workers behind SB3's ``VecEnv``: the same contract as :class:`~lam_agents.vec_env.ConversationVecEnv`
    (``terminal_observation`` and ``TimeLimit.truncated`` in infos, ``reset_infos``, ``env_method("action_masks")``
    for MaskablePPO, per-row seeds and reset options, ``get_state`` / ``set_state`` for resumable checkpoints).

    Args:
        env_id: A registered lam id.
        num_workers: K.
        envs_per_worker: N (the facade has K·N rows; row ``k·N + j`` is worker k's row j).
        env_kwargs: Keywords of each worker's env.
        settings: Cluster address, resources and timeout (see :class:`RaySettings`).
    """

    def __init__(self, env_id: str, num_workers: int, envs_per_worker: int, env_kwargs: dict[str, Any] | None = None,
                 settings: RaySettings = RaySettings()) -> None:
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        self.pool = WorkerPool(env_id, num_workers, envs_per_worker, env_kwargs, settings)
        self.num_workers, self.envs_per_worker = num_workers, envs_per_worker
        self._stepping = False
        self._parts: EnvParts | None = None
        spec = gym.spec(env_id).kwargs
        self.task: str = spec["task"]
        """The task's registry name."""
        self.action_kind: str = spec["action_space"]
        """``"latent"`` or ``"token"``."""
        super().__init__(self.pool.num_envs, self.pool.observation_space, self.pool.action_space)

    # ------------------------------------------------------------------------------------------------ for agents
    @property
    def num_samples(self) -> int:
        """Samples (prompts) each worker's env draws from."""
        return int(self.pool.summary["num_samples"])

    @property
    def max_reply_tokens(self) -> int:
        """The reply limit of the workers' envs."""
        return int(self.pool.summary["max_reply_tokens"])

    @property
    def parts(self) -> EnvParts:
        """The frozen backbone, world model and samples of the workers' env (see
        :class:`~lam_envs.envs.setup.EnvParts`), loaded once more in this process, read-only, on first use (the
        fair start copies the prior or LM head from them); the workers' own copies never leave them."""
        if self._parts is None:
            from lam_envs.envs.config import ConversationConfig, check_action_kind, check_task
            from lam_envs.envs.setup import Setup
            from lam_envs.envs.resolve import resolve_samples

            kwargs = {**gym.spec(self.env_id).kwargs, **self.env_kwargs}
            task, kind = check_task(kwargs.pop("task")), check_action_kind(kwargs.pop("action_space"))
            kwargs.pop("render_mode", None)
            config = ConversationConfig(**kwargs)
            # The models and samples only: the judge stays with the workers.
            self._parts = Setup.for_decoding(task, kind, config, resolve_samples(task, config)).parts
        return self._parts

    # ------------------------------------------------------------------------------------------------ stepping
    def _chunk(self, values: Sequence[Any], worker: int) -> list[Any]:
        rows = self.pool.rows_of(worker)
        return list(values[rows.start:rows.stop])

    def reset(self) -> VecEnvObs:
        seeds, options = list(self._seeds), list(self._options)
        results = self.pool.gather("reset", lambda k: (self._chunk(seeds, k), self._chunk(options, k)))
        self.reset_infos = [info for _, infos in results for info in infos]
        self._reset_seeds()
        self._reset_options()
        return _concat([obs for obs, _ in results])

    def step_async(self, actions: np.ndarray) -> None:
        """Send each worker its slice of the actions (its ``step`` runs while the driver waits in ``step_wait``).

        Raises:
            ValueError: unless ``actions`` is an integer array of shape ``(num_envs,)``.
        """
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"actions of shape {actions.shape} and dtype {actions.dtype}; a RayVecEnv takes an integer array of "
                f"shape ({self.num_envs},), one Discrete({self.action_space.n}) action per env"
            )
        n = self.envs_per_worker
        self._refs = {k: self.pool.submit(k, "step", actions[k * n:(k + 1) * n]) for k in range(self.num_workers)}
        self._stepping = True

    def step_wait(self) -> VecEnvStepReturn:
        if not self._stepping:
            raise RuntimeError("step_wait() without step_async(); call step(actions)")
        self._stepping = False
        results = [r for _, r in sorted(self.pool.wait(self._refs, "step").items())]
        obs = _concat([r[0] for r in results])
        rewards = np.concatenate([r[1] for r in results])
        dones = np.concatenate([r[2] for r in results])
        infos = [info for r in results for info in r[3]]
        for k, r in enumerate(results):  # the first infos of the episodes that restarted this step
            for j, info in r[4].items():
                self.reset_infos[k * self.envs_per_worker + j] = info
        return obs, rewards, dones, infos

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Every worker's env state (see :meth:`ConversationVecEnv.get_state`) plus pending seeds and options."""
        states = self.pool.gather("get_state")
        arrays = {f"w{k}.{name}": a for k, (_, worker_arrays) in enumerate(states) for name, a in worker_arrays.items()}
        return {"num_workers": self.num_workers, "workers": [s for s, _ in states], "seeds": list(self._seeds),
                "options": list(self._options), "reset_infos": self.reset_infos}, arrays

    def set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`get_state` returned, on K workers of N rows built with the same keywords.

        Raises:
            ValueError: if the state was taken with another number of workers.
        """
        if state.get("num_workers") != self.num_workers:
            raise ValueError(
                f"the checkpoint's env state is from {state.get('num_workers', 1)} rollout worker(s), this run has "
                f"{self.num_workers}; resume with --workers {state.get('num_workers', 1)}"
            )

        def args(k: int) -> tuple:
            prefix = f"w{k}."
            return state["workers"][k], {n[len(prefix):]: a for n, a in arrays.items() if n.startswith(prefix)}

        self.pool.gather("set_state", args)
        self._seeds = list(state["seeds"])
        self._options = [dict(o) for o in state["options"]]
        self.reset_infos = list(state["reset_infos"])

    def close(self) -> None:
        self.pool.close()

    # ------------------------------------------------------------------------------------------------ attributes
    def _per_row(self, method: str, indices: VecEnvIndices, extra: Callable[[list[int]], tuple]) -> list[Any]:
        rows = list(self._get_indices(indices))
        by_worker = self.pool.split(rows)
        refs = {k: self.pool.submit(k, method, *extra(local)) for k, local in by_worker.items()}
        answers = {k: iter(v) for k, v in self.pool.wait(refs, method).items()}
        return [next(answers[row // self.envs_per_worker]) for row in rows]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The attribute of the batched env holding each requested row."""
        return self._per_row("get_attr", indices, lambda local: (attr_name, local))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute on the workers' batched envs (each must be named for all its rows, as locally)."""
        by_worker = self.pool.split(self._get_indices(indices))
        refs = {k: self.pool.submit(k, "set_attr", attr_name, value, local) for k, local in by_worker.items()}
        self.pool.wait(refs, "set_attr")

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Call a method per row on the worker holding it (``action_masks`` returns each row's mask)."""
        return self._per_row("env_method", indices, lambda local: (method_name, method_args, method_kwargs, local))

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [image for images in self.pool.gather("get_images") for image in images]


class RayVectorEnv(VectorEnv):
    """K rollout workers behind Gymnasium's ``VectorEnv`` (same-step autoreset, as
    :class:`~lam_envs.envs.vector.ConversationVectorEnv`): for Gymnasium-native agents and RLlib.

    ``reset(seed=s)`` seeds row i with ``s + i`` across all workers; ``options["sample_index"]`` (an int or one per
    row) and ``options["reset_mask"]`` ((K·N,) bool) are split by row. The infos dict has the local env's keys and
    ``_key`` masks over all K·N rows.

    Args: as :class:`RayVecEnv`.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, env_id: str, num_workers: int, envs_per_worker: int, env_kwargs: dict[str, Any] | None = None,
                 settings: RaySettings = RaySettings()) -> None:
        self.pool = WorkerPool(env_id, num_workers, envs_per_worker, env_kwargs, settings)
        self.num_envs = self.pool.num_envs
        self.render_mode = self.pool.summary["render_mode"]
        self.single_observation_space = self.pool.observation_space
        self.single_action_space = self.pool.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    def _merge_infos(self, parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
        infos: dict[str, Any] = {}
        for k, part in enumerate(parts):
            rows = set()
            for key, value in part.items():
                mask = part.get(f"_{key}") if not key.startswith("_") else None
                if mask is not None:
                    rows.update(np.flatnonzero(mask).tolist())
            for j in sorted(rows):
                infos = self._add_info(infos, row_info(part, j), k * self.pool.envs_per_worker + j)
        return infos

    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        n = self.pool.envs_per_worker
        if isinstance(seed, (int, np.integer)):
            seeds: list[Any] | None = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed) if seed is not None else None
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        pins = options.pop("sample_index", None)

        def args(k: int) -> tuple:
            opts = dict(options)
            if isinstance(pins, (list, tuple, np.ndarray)):
                opts["sample_index"] = list(pins[k * n:(k + 1) * n])
            elif pins is not None:
                opts["sample_index"] = pins
            return (seeds[k * n:(k + 1) * n] if seeds is not None else None), opts

        if mask is not None:
            # Workers with no row to reset keep their episodes; only their current observations are read.
            mask = np.asarray(mask, dtype=bool)
            refs = {}
            for k in range(self.pool.num_workers):
                local = mask[k * n:(k + 1) * n]
                if local.any():
                    s, o = args(k)
                    refs[k] = self.pool.submit(k, "vector_reset", s, {**o, "reset_mask": local})
                else:
                    refs[k] = self.pool.submit(k, "vector_observations")
            answers = self.pool.wait(refs, "vector_reset")
            parts = [answers[k] if isinstance(answers[k], tuple) else (answers[k], {}) for k in sorted(answers)]
            return _concat([p[0] for p in parts]), self._merge_infos([p[1] for p in parts])
        results = self.pool.gather("vector_reset", args)
        return _concat([r[0] for r in results]), self._merge_infos([r[1] for r in results])

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = np.asarray(actions)
        n = self.pool.envs_per_worker
        results = self.pool.gather("vector_step", lambda k: (actions[k * n:(k + 1) * n],))
        return (_concat([r[0] for r in results]), np.concatenate([r[1] for r in results]),
                np.concatenate([r[2] for r in results]), np.concatenate([r[3] for r in results]),
                self._merge_infos([r[4] for r in results]))

    def action_masks(self) -> np.ndarray:
        """(num_envs, num_actions) bool masks, gathered from the workers."""
        rows = list(range(self.num_envs))
        by_worker = self.pool.split(rows)
        refs = {k: self.pool.submit(k, "env_method", "action_masks", (), {}, local) for k, local in by_worker.items()}
        return np.stack([m for _, masks in sorted(self.pool.wait(refs, "action_masks").items()) for m in masks])

    def render(self) -> tuple[Any, ...] | None:
        parts = self.pool.gather("vector_render")
        return None if any(p is None for p in parts) else tuple(x for p in parts for x in p)

    def close_extras(self, **kwargs: Any) -> None:
        self.pool.close()
