"""Training any listed SB3 / sb3-contrib algorithm (or GRPO) on a lam-gym env, with save and load.

A run directory holds ``model.zip`` (SB3's own format), ``run.json`` (the full configuration: algorithm, env id and
keywords, resolved hyperparameters, seed, fair start, versions; everything needed to rebuild the env and reload the
model), ``checkpoints/`` (periodic ``model_<steps>_steps.zip``) and ``tb/`` (tensorboard logs)::

    run_dir = train(TrainConfig(env_id="lam/MMRole-Latent-v0", algo="ppo", steps=20_000, fair_start=True))
    model, run = load_agent(run_dir)
"""

from __future__ import annotations

import json
import logging
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lam_agents.algos import AlgoSpec, algo_spec, load_hyperparams

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
MODEL_FILE = "model.zip"


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
    """Torch device of the policy."""
    verbose: int = 1
    """SB3 verbosity (1 prints the rollout/train tables)."""

    def __post_init__(self) -> None:
        self.algo = algo_spec(self.algo).name
        if self.steps <= 0:
            raise ValueError(f"steps={self.steps} must be positive")
        if self.n_envs is not None and self.n_envs <= 0:
            raise ValueError(f"n_envs={self.n_envs} must be positive")
        spec = algo_spec(self.algo)
        if (self.fair_start or self.kl_beta) and not spec.fair_start:
            fair = ", ".join(n for n, s in _all_specs().items() if s.fair_start)
            raise ValueError(f"--fair-start/--kl-beta are not available for {self.algo}; use one of: {fair}")
        if self.kl_beta is not None and not self.fair_start:
            raise ValueError("--kl-beta penalises the distance to the fair start; pass --fair-start too")


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
    from lam_agents.envs import env_parts
    from lam_agents.fair_start import MaskableFairStartPolicy, FairStartPolicy, load_start_weights, start_head_spec

    spec = algo_spec(config.algo)
    params = dict(params)
    policy_kwargs = dict(params.pop("policy_kwargs", {}) or {})
    policy: Any = spec.policy
    parts = env_parts(venv)
    if config.fair_start:
        policy = MaskableFairStartPolicy if spec.masked else FairStartPolicy
        policy_kwargs["start_head"] = start_head_spec(parts)
    tb = str(Path(config.out) / "tb") if config.tensorboard else None
    model = spec.load_class()(
        policy, venv, seed=config.seed, device=config.device, verbose=config.verbose, tensorboard_log=tb,
        policy_kwargs=policy_kwargs or None, **params,
    )
    if config.fair_start:
        load_start_weights(model.policy, parts)
    return model


def train(config: TrainConfig, extra_callbacks: list | None = None) -> Path:
    """Train, checkpoint and save one run.

    Args:
        config: The run.
        extra_callbacks: More SB3 callbacks (e.g. a :class:`lam_agents.callbacks.CurveCallback`).

    Returns:
        The run directory (``model.zip`` and ``run.json`` inside).
    """
    import stable_baselines3
    import torch
    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback

    from lam_agents.callbacks import ReplyLogCallback
    from lam_agents.envs import make_vec_env
    from lam_agents.fair_start import StartKLPenalty

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    params, n_envs = resolve_hyperparams(config)
    run = {"config": asdict(config), "hyperparams": params, "n_envs": n_envs, "versions": _versions(),
           "stable_baselines3": stable_baselines3.__version__, "torch": torch.__version__}
    logger.info("training run:\n%s", json.dumps(run, indent=1, default=str))
    (out / RUN_FILE).write_text(json.dumps(run, indent=1, default=str))
    venv = make_vec_env(config.env_id, n_envs, config.seed, config.env_kwargs)
    model = build_model(config, venv, params)
    callbacks: list = [ReplyLogCallback(sample_every=config.sample_every)]
    if config.checkpoint_every:
        callbacks.append(CheckpointCallback(max(config.checkpoint_every // n_envs, 1), str(out / "checkpoints"),
                                            name_prefix="model"))
    if config.kl_beta and config.algo != "grpo":
        callbacks.append(StartKLPenalty(config.kl_beta))
    callbacks += extra_callbacks or []
    model.learn(config.steps, callback=CallbackList(callbacks), progress_bar=config.progress_bar,
                tb_log_name=config.algo)
    model.save(out / MODEL_FILE)
    venv.close()
    logger.info("saved %s to %s", config.algo, out / MODEL_FILE)
    return out


def _versions() -> dict[str, str]:
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False,
                                cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = ""
    return {"python": platform.python_version(), "commit": commit or "unknown"}


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

    Args:
        run_dir: A directory written by :func:`train` (or a ``.zip`` inside one, e.g. a checkpoint).
        device: Torch device.

    Returns:
        The SB3 model (without an env) and ``run.json``'s content.
    """
    path = Path(run_dir)
    zip_path = path if path.suffix == ".zip" else path / MODEL_FILE
    run_root = path if path.is_dir() else (path.parent.parent if path.parent.name == "checkpoints" else path.parent)
    run = read_run(run_root)
    if not zip_path.is_file():
        raise FileNotFoundError(f"{zip_path} does not exist; the run did not finish (use a checkpoint .zip)")
    cls = algo_spec(run["config"]["algo"]).load_class()
    return cls.load(zip_path, device=device), run
