"""Resolving an env's keyword arguments into the objects its dynamics need: backbone, world model, samples, judge,
simulated user.

Loaded backbones, world models and rule judges are cached per process: they are frozen (or stateless) and only
read, so every env built from the same directory shares one copy instead of loading weights again for each
``gym.make``. Per-episode state (the KV cache, the replies) always belongs to the env, never to these objects.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lam_envs.backbone import Backbone, BackboneConfig
from lam_envs.data.types import Sample, Split, Task
from lam_envs.envs.config import ConversationConfig
from lam_envs.rewards.base import Reward

logger = logging.getLogger(__name__)

_BACKBONES: dict[BackboneConfig, Backbone] = {}
_WORLD_MODELS: dict[tuple[str, int], Any] = {}
_RULE_JUDGES: dict[str, Reward] = {}


def default_backbone_path() -> Path:
    """The embedded default VLM's directory (see :func:`lam_envs.backbone.default.default_backbone_dir`)."""
    from lam_envs.backbone.default import default_backbone_dir

    return default_backbone_dir()


def resolve_backbone(config: ConversationConfig) -> tuple[Backbone, bool]:
    """The frozen VLM named by ``config.backbone``.

    Returns:
        The backbone and whether it is the embedded default (which decides the default prompt style).

    Raises:
        BackboneConfigError: for a missing or unusable checkpoint directory.
        TypeError: for a value of the wrong kind.
    """
    spec = config.backbone
    if isinstance(spec, Backbone):
        return spec, False
    is_default = spec is None
    if is_default:
        spec = default_backbone_path()
        if not (Path(spec) / "config.json").is_file():
            from lam_envs.backbone import BackboneConfigError

            raise BackboneConfigError(
                f"the embedded default backbone is missing from {spec}; rebuild it with `lam build-default --out "
                f"{spec}` or pass backbone=<checkpoint directory>"
            )
    if isinstance(spec, (str, Path)):
        spec = BackboneConfig(Path(spec).resolve(), device=config.device, dtype=config.dtype)
    if not isinstance(spec, BackboneConfig):
        raise TypeError(
            f"backbone={config.backbone!r} is a {type(config.backbone).__name__}; pass a checkpoint directory, a "
            "BackboneConfig, a loaded Backbone or None for the embedded default"
        )
    if spec not in _BACKBONES:
        _BACKBONES[spec] = Backbone(spec)
    return _BACKBONES[spec], is_default


def resolve_world_model(spec: Any, backbone: Backbone) -> WorldModel:
    """The latent action model named by ``spec`` (a directory, a loaded model, or ``None`` for the default).

    Raises:
        FileNotFoundError: if the directory (or the embedded default) is missing, naming the path and the fix.
        TypeError: if ``spec`` is neither a path nor a model with ``token_logits`` and ``prior_logits``.
    """
    if spec is not None and not isinstance(spec, (str, Path)):
        if not isinstance(spec, WorldModel):
            raise TypeError(
                f"latent_model={spec!r} has no token_logits/prior_logits/config; pass a LatentActionModel or the "
                "directory it was saved to"
            )
        _check_fits(spec, backbone)
        return spec
    try:
        from lam_envs.latent.model import LatentActionModel, default_latent_dir
    except ImportError as exc:
        raise ImportError(
            f"latent envs need lam_envs.latent.model ({exc}); use a token env (action_space='token') meanwhile"
        ) from exc
    path = Path(default_latent_dir() if spec is None else spec).resolve()
    if not path.is_dir():
        what = "the embedded default latent model" if spec is None else "latent_model"
        raise FileNotFoundError(
            f"{what} directory {path} does not exist; pass latent_model=<directory written by "
            "LatentActionModel.save_pretrained> (or a loaded model), or use the token twin of this env"
        )
    key = (str(path), id(backbone))
    if key not in _WORLD_MODELS:
        model = LatentActionModel.from_pretrained(path, device=backbone.device)
        model.requires_grad_(False)
        _check_fits(model, backbone)
        _WORLD_MODELS[key] = model
    return _WORLD_MODELS[key]


def _check_fits(model: Any, backbone: Backbone) -> None:
    # A world model trained for another backbone would index a different vocabulary: fail at construction.
    check = getattr(model, "check_backbone", None)
    if check is not None:
        check(backbone)


def resolve_samples(task: Task, config: ConversationConfig) -> list[Sample]:
    """The samples episodes are drawn from: given ones, a real dataset's split, or the synthetic task's split.

    Raises:
        ValueError: if there are no samples, or the given samples belong to another task.
    """
    if config.samples is not None:
        samples = list(config.samples)
    elif config.dataset is not None:
        samples = _load_real(task, config.dataset, config.split, config.data_seed)
    else:
        from lam_envs.data.synthetic import synthetic_samples

        samples = synthetic_samples(task, config.split, seed=config.data_seed, n=config.num_samples)
    if config.dialogue:
        from lam_envs.data.dialogue import whole_dialogues

        samples = whole_dialogues(samples)
    if config.num_samples is not None:
        samples = samples[: config.num_samples]
    if not samples:
        raise ValueError(f"no {task} samples for split {config.split.value!r}; check `samples`/`dataset`/`split`")
    wrong = [s.id for s in samples if s.task != task]
    if wrong:
        raise ValueError(f"samples {wrong[:3]} belong to another task than {task!r}; pass {task} samples only")
    return samples


def _load_real(task: Task, dataset: Any, split: Split, seed: int) -> list[Sample]:
    if not hasattr(dataset, "keys"):
        raise TypeError(f"dataset={dataset!r} must be a mapping of the {task} loader's keyword arguments")
    from lam_envs.tasks import task_spec

    spec = task_spec(task)
    kwargs = {"seed": seed, **dict(dataset)}
    if "split" in kwargs:
        raise ValueError("pass the split as the env's `split` keyword, not inside `dataset`")
    try:
        return spec.load_real(split=split, **kwargs)[0]
    except TypeError as exc:
        raise TypeError(f"dataset keywords {sorted(dataset)} do not fit {spec.real_loader_name} ({exc})") from None


def resolve_reward(task: Task, spec: Any, judge_failure_reward: float | None = None) -> Reward:
    """The judge named by ``spec``: ``"rule"``, an ``LLMJudgeConfig``, or a :class:`Reward` object.

    With ``judge_failure_reward`` set, an LLM judge flags its failures (``on_failure="flag"``) whatever its config
    says, so that the env can pay that reward and flag the reply, instead of the judge raising first.

    Raises:
        ValueError: if the judge scores another task.
        TypeError: for a value of the wrong kind.
    """
    from lam_envs.rewards.llm import LLMJudge, LLMJudgeConfig

    if isinstance(spec, str) and spec == "rule":
        if task not in _RULE_JUDGES:
            from lam_envs.rewards.rules import rule_judge

            _RULE_JUDGES[task] = rule_judge(task)
        return _RULE_JUDGES[task]
    if isinstance(spec, LLMJudgeConfig):
        if judge_failure_reward is not None and spec.on_failure != "flag":
            import dataclasses

            logger.info("judge_failure_reward is set: the LLM judge flags failures instead of raising")
            spec = dataclasses.replace(spec, on_failure="flag")
        return LLMJudge(task, spec)
    if not isinstance(spec, Reward):
        # The type only: a dict here may hold a judge's key.
        raise TypeError(
            f"reward of type {type(spec).__name__} is not a judge; pass 'rule', an LLMJudgeConfig or an object with task, dimensions and "
            "score(samples, replies)"
        )
    if spec.task != task:
        raise ValueError(f"reward scores task {spec.task!r} but this env is {task!r}; pass a {task} judge")
    return spec


def resolve_user_simulator(spec: Any) -> Any:
    """The simulated user named by ``spec``: ``None``, a ``UserSimulatorConfig`` (built into a ``UserSimulator``),
    or an object with ``next_turn(sample, reply, seed)``, taken as it is."""
    from lam_envs.rewards.llm import UserSimulator, UserSimulatorConfig

    if isinstance(spec, UserSimulatorConfig):
        return UserSimulator(spec)
    return spec
