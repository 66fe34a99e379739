"""Training any listed SB3 / sb3-contrib algorithm (or GRPO) on a lam-gym env, with save, load and resume.

A run directory holds ``run.json`` (the full configuration: algorithm, env id and keywords without secrets, resolved
hyperparameters, seed, fair start, versions; everything needed to rebuild the env and reload the model),
``model.zip`` (SB3's own format, stamped with its env id and algorithm), ``checkpoints/<step>/`` (resumable: see
:mod:`lam_agents.run_dir`) and ``tb/`` (tensorboard logs)::

    run_dir = train(TrainConfig(env_id="lam/MMRole-Latent-v0", algo="ppo", steps=20_000, fair_start=True))
    model, run = load_agent(run_dir)

``--out`` into a directory that already holds files is refused unless ``overwrite`` (start again) or ``resume``
(continue from the latest checkpoint: policy, optimiser, step count, RNGs and the env's rows, so the resumed run
collects what the uninterrupted one would have). SIGINT and SIGTERM stop at the next step, save an ``interrupted``
checkpoint at the last point between two rollouts and raise :class:`TrainingInterrupted`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import platform
import signal
import threading
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from lam_agents import run_dir as rd
from lam_agents.algos import AlgoSpec, algo_spec, load_hyperparams
from lam_agents.run_dir import MODEL_FILE, RUN_FILE, RunDirError

logger = logging.getLogger(__name__)

__all__ = ["MODEL_FILE", "RUN_FILE", "RunDirError", "TrainConfig", "TrainingInterrupted", "load_agent", "read_run",
           "train"]


class TrainingInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped a run; ``checkpoint`` is the folder it can resume from."""

    def __init__(self, signal_name: str, step: int, checkpoint: Path | None, out: Path) -> None:
        self.signal_name, self.step, self.checkpoint, self.out = signal_name, step, checkpoint, out
        where = f"checkpoint {checkpoint}" if checkpoint else "no checkpoint (stopped before the first rollout)"
        super().__init__(f"{signal_name}: stopped at step {step}; {where}; continue with --resume --out {out}")


@dataclass
class TrainConfig:
    """One training run (the fields of ``lam train``)."""

    env_id: str
    """Registered env id, e.g. ``lam/MMRole-Latent-v0``."""
    algo: str = "ppo"
    """Algorithm name (see ``lam_agents.algos.ALGOS``)."""
    steps: int = 10_000
    """Environment steps (generated tokens) to train for."""
    seed: int = 0
    """Seed of the policy, the algorithm and the env rows."""
    hyperparams: str | None = None
    """A zoo-style YAML file; ``None`` uses the shipped ``lam_agents/hyperparams/<algo>.yml``."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Constructor keywords that replace the file's (e.g. from a benchmark)."""
    n_envs: int | None = None
    """Rows decoded together; ``None`` takes the file's ``n_envs`` (or 8)."""
    fair_start: bool = False
    """Start the policy's action logits at the pretrained behaviour (see ``lam_agents.fair_start``)."""
    kl_beta: float | None = None
    """KL penalty weight toward the fair start (on-policy algorithms; GRPO: its own ``kl_beta``)."""
    out: str = "runs/run"
    """Run directory."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keywords of the env (``ConversationConfig`` fields: backbone, latent_model, split, ...)."""
    checkpoint_every: int = 10_000
    """Environment steps between checkpoints (0: none)."""
    sample_every: int = 10
    """Updates between decoded sample replies in the logs (0: never)."""
    progress_bar: bool = True
    """Show SB3's progress bar."""
    tensorboard: bool = True
    """Write tensorboard logs under ``<out>/tb``."""
    device: str = "cpu"
    """Torch device of the policy (``"cuda"`` only where CUDA is available: there is no silent CPU fallback)."""
    verbose: int = 1
    """SB3 verbosity (1 prints the rollout/train tables)."""
    overwrite: bool = False
    """Replace the run already in ``out`` (refused when ``out`` holds files and neither this nor ``resume`` is set)."""
    resume: bool = False
    """Continue the run in ``out`` from its latest checkpoint (``steps`` stays the run's total)."""
    workers: int = 1
    """Ray rollout workers (1: the env runs in this process); each holds ``n_envs / workers`` rows."""
    ray_address: str | None = None
    """Ray cluster to join with ``workers > 1`` (``None``: start a local Ray)."""
    worker_cpus: float = 1.0
    """CPUs each rollout worker reserves (and its torch threads)."""
    worker_gpus: float = 0.0
    """GPUs each rollout worker reserves (1: its own GPU; with env keyword ``device="cuda"``)."""
    worker_timeout_s: float = 600.0
    """Seconds a rollout worker may take for one call before the run stops (a first reset loads the models)."""

    def __post_init__(self) -> None:
        self.algo = algo_spec(self.algo).name
        for name in ("steps", "seed", "checkpoint_every", "sample_every", "verbose"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name}={value!r} must be an integer")
        if self.steps <= 0:
            raise ValueError(f"steps={self.steps} must be positive")
        if self.seed < 0:
            raise ValueError(f"seed={self.seed} must be >= 0")
        if self.checkpoint_every < 0 or self.sample_every < 0:
            raise ValueError("checkpoint_every and sample_every must be >= 0 (0 turns them off)")
        if self.n_envs is not None and (isinstance(self.n_envs, bool) or not isinstance(self.n_envs, int)
                                        or self.n_envs <= 0):
            raise ValueError(f"n_envs={self.n_envs!r} must be a positive integer")
        if self.kl_beta is not None and not (isinstance(self.kl_beta, (int, float)) and 0 <= self.kl_beta < 1e6):
            raise ValueError(f"kl_beta={self.kl_beta!r} must be a finite number >= 0")
        if self.overwrite and self.resume:
            raise ValueError("pass either overwrite (start again) or resume (continue), not both")
        check_device(self.device)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers <= 0:
            raise ValueError(f"workers={self.workers!r} must be a positive integer")
        if not (isinstance(self.worker_timeout_s, (int, float)) and self.worker_timeout_s > 0):
            raise ValueError(f"worker_timeout_s={self.worker_timeout_s!r} must be > 0 seconds (--worker-timeout)")
        spec = algo_spec(self.algo)
        if (self.fair_start or self.kl_beta) and not spec.fair_start:
            fair = ", ".join(n for n, s in _all_specs().items() if s.fair_start)
            raise ValueError(f"--fair-start/--kl-beta are not available for {self.algo}; use one of: {fair}")
        if self.kl_beta is not None and not self.fair_start:
            raise ValueError("--kl-beta penalises the distance to the fair start; pass --fair-start too")


def check_device(device: str) -> None:
    """Refuse a torch device that does not exist here, naming the fix.

    Raises:
        ValueError: for an unparsable device, or CUDA / MPS where they are not available.
    """
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not a torch device; use 'cpu' or 'cuda' (or 'cuda:N')") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available on this machine; pass --device cpu")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ValueError(f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) exist")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} but MPS is not available on this machine; pass --device cpu")
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device={device!r}: lam train supports 'cpu', 'cuda' and 'mps'")


def _all_specs() -> dict[str, AlgoSpec]:
    from lam_agents.algos import ALGOS

    return ALGOS


def resolve_hyperparams(config: TrainConfig) -> tuple[dict[str, Any], int]:
    """The algorithm's constructor keywords and ``n_envs`` for ``config`` (file, then overrides, then flags)."""
    params = load_hyperparams(config.algo, config.env_id, config.hyperparams)
    params.update(config.overrides)
    n_envs = int(config.n_envs or params.pop("n_envs", 8))
    params.pop("n_envs", None)
    if config.algo == "grpo" and config.kl_beta is not None:
        params["kl_beta"] = config.kl_beta
    return params, n_envs


def build_model(config: TrainConfig, venv: Any, params: dict[str, Any]) -> Any:
    """The algorithm on ``venv`` with ``params``, with its fair start loaded if asked for."""
    from lam_agents.fair_start import fair_start_model

    spec = algo_spec(config.algo)
    params = dict(params)
    policy_kwargs = dict(params.pop("policy_kwargs", {}) or {})
    tb = str(Path(config.out) / "tb") if config.tensorboard else None
    common = {"seed": config.seed, "device": config.device, "verbose": config.verbose, "tensorboard_log": tb}
    if config.fair_start:
        return fair_start_model(spec, venv, policy_kwargs, **common, **params)
    return spec.load_class()(spec.policy, venv, policy_kwargs=policy_kwargs or None, **common, **params)


def train(config: TrainConfig, extra_callbacks: list | None = None) -> Path:
    """Train, checkpoint and save one run (or resume it).

    Args:
        config: The run.
        extra_callbacks: More SB3 callbacks (e.g. a :class:`lam_agents.callbacks.CurveCallback`).

    Returns:
        The run directory (``model.zip`` and ``run.json`` inside).

    Raises:
        RunDirError: if ``config.out`` holds files and neither ``overwrite`` nor ``resume`` is set, or ``resume``
            finds nothing to resume.
        TrainingInterrupted: after SIGINT / SIGTERM, once the interrupted checkpoint is saved.
    """
    import stable_baselines3
    import torch
    from stable_baselines3.common.callbacks import CallbackList

    from lam_agents.callbacks import ReplyLogCallback
    from lam_agents.checkpoints import ResumableCheckpoint, restore_checkpoint
    from lam_agents.env_kwargs import env_kwargs_record
    from lam_agents.envs import make_vec_env
    from lam_agents.fair_start import StartKLPenalty

    out = Path(config.out)
    rd.prepare(out, overwrite=config.overwrite, resume=config.resume)
    if config.resume:
        _check_same_run(config, read_run(out))
    params, n_envs = resolve_hyperparams(config)
    venv = make_vec_env(config.env_id, n_envs, config.seed, config.env_kwargs, workers=config.workers,
                        ray_settings=_ray_settings(config))
    model = build_model(config, venv, params)
    checkpoint = rd.latest_checkpoint(out) if config.resume else None
    if checkpoint is not None:
        model = restore_checkpoint(model, checkpoint, venv, config.env_id, config.algo, config.device)
        logger.info("resuming %s from %s at step %d", config.algo, checkpoint, model.num_timesteps)
    # asdict would deep-copy env_kwargs (a loaded Backbone, samples, a judge's key): record them separately.
    record = asdict(dataclasses.replace(config, env_kwargs={}))
    record["env_kwargs"] = env_kwargs_record(config.env_kwargs)
    run = {"config": record, "hyperparams": params, "n_envs": n_envs, "versions": _versions(),
           "stable_baselines3": stable_baselines3.__version__, "torch": torch.__version__}
    logger.info("training run:\n%s", json.dumps(run, indent=1, default=str))
    rd.write_json_atomic(out / RUN_FILE, run)
    saver = ResumableCheckpoint(out, config.checkpoint_every, config.env_id, config.algo)
    callbacks: list = [saver, ReplyLogCallback(sample_every=config.sample_every)]
    if config.kl_beta and config.algo != "grpo":
        callbacks.append(StartKLPenalty(config.kl_beta))
    callbacks += extra_callbacks or []
    remaining = config.steps - model.num_timesteps
    try:
        with _stop_on_signals(saver), warnings.catch_warnings():
            # SB3's progress bar is tqdm.rich, which tqdm flags as experimental on every run: not ours to fix.
            warnings.filterwarnings("ignore", message="rich is experimental")
            if remaining > 0:
                model.learn(remaining, callback=CallbackList(callbacks), progress_bar=config.progress_bar,
                            tb_log_name=config.algo, reset_num_timesteps=checkpoint is None)
    finally:
        venv.close()
    if saver.stopped_by is not None:
        raise TrainingInterrupted(saver.stopped_by, saver.interrupted_step, saver.interrupted_checkpoint, out)
    model.save(out / MODEL_FILE)
    rd.stamp_model(out / MODEL_FILE, config.env_id, config.algo)
    logger.info("saved %s to %s", config.algo, out / MODEL_FILE)
    return out


def _ray_settings(config: TrainConfig) -> Any:
    if config.workers == 1:
        return None
    from lam_agents.ray_workers import RaySettings

    return RaySettings(address=config.ray_address, worker_cpus=config.worker_cpus, worker_gpus=config.worker_gpus,
                       timeout_s=config.worker_timeout_s)


def _check_same_run(config: TrainConfig, run: dict[str, Any]) -> None:
    """A resumed run must be the recorded one (env, algorithm, seed, fair start); ``steps`` may grow."""
    recorded = run.get("config", {})
    for key in ("env_id", "algo", "seed", "fair_start", "kl_beta", "n_envs", "hyperparams"):
        if recorded.get(key) != getattr(config, key):
            raise RunDirError(
                f"--resume: {config.out} was trained with {key}={recorded.get(key)!r}, not {getattr(config, key)!r}; "
                "pass the same settings to resume it, or --overwrite to start again"
            )


@contextlib.contextmanager
def _stop_on_signals(saver: Any) -> Iterator[None]:
    """While training, SIGINT / SIGTERM ask ``saver`` to stop cleanly (a second SIGINT interrupts at once)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if saver.stop_requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        saver.request_stop(name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _versions() -> dict[str, str]:
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False,
                                cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = ""
    from lam_envs.envs import DYNAMICS_VERSION

    return {"python": platform.python_version(), "commit": commit or "unknown", "env_dynamics": str(DYNAMICS_VERSION)}


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """The ``run.json`` of a run directory.

    Raises:
        FileNotFoundError: if it is not a run directory.
    """
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; pass a directory written by `lam train --out`")
    return json.loads(path.read_text())


def load_agent(run_dir: str | Path, device: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """Load a trained model and its run description.

    SB3 models are cloudpickled: load only runs you trust. Before SB3 unpickles anything, the model's stamp (a JSON
    entry) must name the env id and algorithm its ``run.json`` records.

    Args:
        run_dir: A directory written by :func:`train`, a checkpoint folder in it, or a ``.zip`` inside one.
        device: Torch device.

    Returns:
        The SB3 model (without an env) and ``run.json``'s content.

    Raises:
        FileNotFoundError: if there is no run or model there.
        RunDirError: if the model and ``run.json`` disagree, or the model was not written by ``lam train``.
    """
    check_device(device)
    path = Path(run_dir)
    if path.suffix == ".zip":
        zip_path = path
    elif path.parent.name == rd.CHECKPOINTS:
        zip_path = path / MODEL_FILE
    else:
        zip_path = path / MODEL_FILE
    root = zip_path.parent
    while root != root.parent and not (root / RUN_FILE).is_file():
        root = root.parent
    if not (root / RUN_FILE).is_file():
        raise FileNotFoundError(f"no {RUN_FILE} in {path} or above it; pass a directory written by `lam train --out`")
    run = read_run(root)
    if not zip_path.is_file():
        latest = rd.latest_checkpoint(root)
        hint = f"; evaluate its latest checkpoint {latest}" if latest else ""
        raise FileNotFoundError(f"{zip_path} does not exist; the run did not finish{hint}")
    rd.check_stamp(zip_path, run)
    cls = algo_spec(run["config"]["algo"]).load_class()
    return cls.load(zip_path, device=device), run
