"""The pretraining driver behind ``lam pretrain``: features once, then the stages in order, a checkpoint after each.

Layout of a run directory::

    features.pt            frozen backbone states as plain tensors (computed once; reused on --resume)
    projector/ joint/ prior/ sft/
                           each: config.json + model.safetensors once the stage finished, log.csv, and
                           partial.pt while it runs (a killed run resumes from it)
    final/                 the last stage's model (what the environments load)
    pretrain.json          the full config of the run and each stage's last log row
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from lam_envs.backbone.adapter import Backbone
from lam_envs.data.prompts import PromptStyle
from lam_envs.data.synthetic import synthetic_samples
from lam_envs.data.synthetic.corpora import PairedCorpus, TextCorpus, text_messages
from lam_envs.data.types import TASKS, Split
from lam_envs.latent.config import WEIGHTS_NAME
from lam_envs.latent.features import (
    Example,
    draw_indices,
    extract_features,
    load_features,
    sample_example,
    save_features,
)
from lam_envs.latent.loop import PARTIAL_NAME, barrier, is_main_process
from lam_envs.latent.model import LatentActionModel, latent_config_for, new_latent_model
from lam_envs.latent.stages import (
    JointStageConfig,
    PriorStageConfig,
    ProjectorStageConfig,
    SFTStageConfig,
    joint_stage,
    prior_stage,
    projector_stage,
    sft_stage,
)

logger = logging.getLogger(__name__)

STAGES: tuple[str, ...] = ("projector", "joint", "prior", "sft")
"""Every stage, in the order they run."""
DEFAULT_STAGES: tuple[str, ...] = ("projector", "joint", "prior")
"""What ``--stages all`` runs (task SFT is optional: name it to add it)."""
FEATURES_NAME = "features.pt"
"""The run directory's backbone features (tensors only, see :func:`~lam_envs.latent.features.save_features`)."""


@dataclass(frozen=True)
class PretrainDataConfig:
    """Which examples the latent model is pretrained on."""

    seed: int = 0
    """Seed of the synthetic data and of which items are drawn."""
    n_paired: int = 2500
    """Paired image-text examples (each also run without its image)."""
    task_share: float = 0.5
    """Share of the paired examples drawn from the tasks' SFT splits (half per task); the rest from the corpus."""
    n_text: int = 2500
    """Text-only examples."""
    max_answer_tokens: int = 48
    """Targets (answer + EOS) kept per example."""
    prompt_style: PromptStyle = "compact"
    """How task samples are shown."""
    corpus_size: int = 60_000
    """Items in each synthetic corpus (as the default VLM was trained with)."""

    def __post_init__(self) -> None:
        if self.n_paired <= 0 or self.n_text < 0 or not 0 <= self.task_share <= 1:
            raise ValueError(
                f"n_paired={self.n_paired} must be > 0, n_text={self.n_text} >= 0, task_share={self.task_share} in [0, 1]"
            )


@dataclass(frozen=True)
class PretrainConfig:
    """Everything ``lam pretrain`` does; the defaults build the shipped K=128 default."""

    data: PretrainDataConfig = field(default_factory=PretrainDataConfig)
    num_codes: int = 128
    """Codebook size K."""
    use_projector: bool = True
    """Ablation switch: without it text-only states enter the world model as they are."""
    seed: int = 0
    """Seed of the weight initialisation."""
    inverse_layers: int = 2
    """Causal transformer layers of the inverse model (the reference used 4 on a 3B model)."""
    projector: ProjectorStageConfig = field(default_factory=ProjectorStageConfig)
    joint: JointStageConfig = field(default_factory=JointStageConfig)
    prior: PriorStageConfig = field(default_factory=PriorStageConfig)
    sft: SFTStageConfig = field(default_factory=SFTStageConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def pretrain_examples(config: PretrainDataConfig) -> tuple[list[Example], list[Example], list[Example]]:
    """``(paired, text_only, task)`` examples, drawn deterministically from ``config.seed``."""
    rng = np.random.default_rng(config.seed)
    n_task = round(config.n_paired * config.task_share)
    task: list[Example] = []
    for i, name in enumerate(TASKS):
        samples = synthetic_samples(name, Split.SFT, seed=config.seed)
        share = n_task // len(TASKS) + (1 if i < n_task % len(TASKS) else 0)
        task += [sample_example(samples[j], config.prompt_style) for j in draw_indices(rng, len(samples), share)]
    corpus = PairedCorpus(seed=config.seed, size=config.corpus_size)
    paired = list(task)
    for j in draw_indices(rng, len(corpus), config.n_paired - len(task)):
        item = corpus[j]
        paired.append(Example(item.scene, (("user", item.prompt),), item.answer))
    texts = TextCorpus(seed=config.seed, size=config.corpus_size)
    text: list[Example] = []
    for j in draw_indices(rng, len(texts), config.n_text):
        messages, answer = text_messages(texts[j])
        text.append(Example(None, messages, answer))
    return paired, text, task


def _features(backbone: Backbone, config: PretrainConfig, out: Path, resume: bool, progress: bool) -> dict:
    path = out / FEATURES_NAME
    if resume and path.exists():
        logger.info("reusing backbone features from %s", path)
        paired, text, n_task = load_features(path)
    else:
        paired_ex, text_ex, task_ex = pretrain_examples(config.data)
        kw = {"max_answer_tokens": config.data.max_answer_tokens, "progress": progress}
        paired = extract_features(backbone, paired_ex, with_text_twin=True, desc="paired features", **kw)
        text = extract_features(backbone, text_ex, desc="text features", **kw) if text_ex else None
        n_task = len(task_ex)
        if is_main_process():  # under data-parallel every rank extracts the same features; one writes them
            save_features(path, paired, text, n_task)
    # The task examples are the first rows of the paired set (see pretrain_examples).
    return {"paired": paired, "text": text, "task": paired.split(n_task)[0] if n_task else None}


def run_pretrain(
    backbone: Backbone,
    out_dir: str | Path,
    config: PretrainConfig = PretrainConfig(),
    stages: Sequence[str] = DEFAULT_STAGES,
    *,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Run the named stages in order and write ``out_dir/final``.

    Args:
        backbone: The frozen backbone.
        out_dir: Run directory (see the module docstring).
        config: The run's settings.
        stages: Stages to run, a subset of :data:`STAGES` (run in that order). A stage that is not first starts
            from the checkpoint of the latest earlier stage found in ``out_dir``.
        resume: Reuse finished stages and features, and continue a killed stage from its last checkpoint.
        progress: Show progress bars.

    Returns:
        ``out_dir / "final"``.

    Raises:
        ValueError: for an unknown stage, or a stage whose predecessor's checkpoint is missing.
    """
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stages {unknown}; choose from {STAGES}")
    todo = [s for s in STAGES if s in stages]
    if not config.use_projector and "projector" in todo:
        todo.remove("projector")  # nothing to initialise: the ablation never uses the projector
    if not todo:
        raise ValueError("no stage to run")
    out = Path(out_dir)
    main = is_main_process()  # under `accelerate launch` only rank 0 writes; every rank trains (see latent.loop)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "pretrain.json").write_text(json.dumps({"config": config.to_dict(), "stages": todo}, indent=1))
    barrier()
    feats = _features(backbone, config, out, resume, progress)

    earlier = [s for s in STAGES[: STAGES.index(todo[0])] if (out / s / WEIGHTS_NAME).is_file()]
    if earlier:
        model = LatentActionModel.from_pretrained(out / earlier[-1], device=backbone.device)
        logger.info("starting from the %s stage's checkpoint", earlier[-1])
    elif todo[0] in ("projector", "joint"):
        latent = latent_config_for(
            backbone, config.num_codes, use_projector=config.use_projector, inverse_layers=config.inverse_layers
        )
        model = new_latent_model(backbone, latent, seed=config.seed)
    else:
        raise ValueError(f"stage {todo[0]!r} needs an earlier stage's checkpoint in {out}; run `--stages joint` first")

    summary: dict[str, dict] = {}
    for stage in todo:
        stage_dir = out / stage
        if resume and (stage_dir / WEIGHTS_NAME).is_file():
            model = LatentActionModel.from_pretrained(stage_dir, device=backbone.device)
            logger.info("stage %s already finished; loaded %s", stage, stage_dir)
            continue
        if not resume and main and (stage_dir / PARTIAL_NAME).is_file():
            (stage_dir / PARTIAL_NAME).unlink()
        barrier()
        kw = {"run_dir": stage_dir, "progress": progress}
        if stage == "projector":
            log = projector_stage(model, feats["paired"], config.projector, **kw)
        elif stage == "joint":
            log = joint_stage(model, backbone, feats["paired"], feats["text"], config.joint, **kw)
        elif stage == "prior":
            log = prior_stage(model, feats["paired"], config.prior, **kw)
        else:
            if feats["task"] is None:
                raise ValueError("task SFT needs task examples; set data.task_share > 0")
            log = sft_stage(model, backbone, feats["task"], config.sft, **kw)
        if main:
            model.save_pretrained(stage_dir)
        barrier()
        summary[stage] = log[-1] if log else {}
        logger.info("stage %s done: %s", stage, summary[stage])
    final = out / "final"
    if main:
        if final.exists():
            shutil.rmtree(final)
        model.save_pretrained(final)
        record = json.loads((out / "pretrain.json").read_text())
        record["last_log_rows"] = summary
        (out / "pretrain.json").write_text(json.dumps(record, indent=1))
    barrier()
    return final


def heldout_examples(config: PretrainDataConfig, n_paired: int, n_text: int) -> tuple[list[Example], list[Example]]:
    """Held-out ``(paired, text_only)`` examples: the tasks' ``test_id`` samples plus corpus items drawn with another
    seed, never used in pretraining."""
    rng = np.random.default_rng(config.seed + 10_007)
    n_task = round(n_paired * config.task_share)
    paired: list[Example] = []
    for i, name in enumerate(TASKS):
        share = n_task // len(TASKS) + (1 if i < n_task % len(TASKS) else 0)
        samples = synthetic_samples(name, Split.TEST_ID, seed=config.seed)
        paired += [sample_example(samples[j], config.prompt_style) for j in draw_indices(rng, len(samples), share)]
    corpus = PairedCorpus(seed=config.seed + 10_007, size=config.corpus_size)
    for j in draw_indices(rng, len(corpus), n_paired - len(paired)):
        item = corpus[j]
        paired.append(Example(item.scene, (("user", item.prompt),), item.answer))
    texts = TextCorpus(seed=config.seed + 10_007, size=config.corpus_size)
    text = [Example(None, *text_messages(texts[j])) for j in draw_indices(rng, len(texts), n_text)]
    return paired, text
