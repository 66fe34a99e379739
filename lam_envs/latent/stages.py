"""The training stages (DESIGN.md section 2), each a function: model and data in, trained model and log out.

1. :func:`projector_stage`: fit P (e^T -> e^VT) and P' (e^VT -> e^T) by Gaussian NLL on paired data.
2. :func:`joint_stage`: inverse model + codebook + merge (+ projectors) on paired and text-only data: world-model
   cross-entropy on the real next token, an entropy term against code collapse, and small projector terms (paired
   NLLs, cycle NLL on text-only data); text-only states are replaced by P's mean.
3. :func:`prior_stage`: behaviour cloning of the inverse model's argmax codes from h_t alone.
4. :func:`sft_stage`: optional task SFT of the merge with the prior's argmax codes.

Each stage chooses its trainable set explicitly (:data:`TRAINABLE`); the backbone never trains. The pretraining
driver (:mod:`lam_envs.latent.pipeline`) saves a checkpoint after every stage.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lam_envs.backbone.adapter import Backbone
from lam_envs.latent.features import Features
from lam_envs.latent.inverse import gumbel_straight_through, usage_entropy
from lam_envs.latent.loop import LoopConfig, shard_rows, train_loop
from lam_envs.latent.model import LatentActionModel

logger = logging.getLogger(__name__)

TRAINABLE: dict[str, tuple[str, ...]] = {
    "projector": ("projector",),
    "joint": ("inverse", "codebook", "merge", "projector"),
    "joint_no_projector": ("inverse", "codebook", "merge"),
    "prior": ("prior",),
    "sft": ("merge",),
}
"""Top-level submodules each stage trains (tests pin the resulting parameter names)."""


def set_trainable(model: LatentActionModel, modules: tuple[str, ...]) -> list[str]:
    """Make exactly the parameters under ``modules`` trainable; return their names."""
    model.requires_grad_(False)
    for name in modules:
        getattr(model, name).requires_grad_(True)
    return [n for n, p in model.named_parameters() if p.requires_grad]


@dataclass(frozen=True)
class ProjectorStageConfig(LoopConfig):
    """Projector initialisation (reference learning rate 1e-3)."""

    steps: int = 300
    learning_rate: float = 1e-3


@dataclass(frozen=True)
class JointStageConfig(LoopConfig):
    """Joint inverse + codebook + merge + projector training."""

    steps: int = 1000
    learning_rate: float = 1e-3
    entropy_weight: float = 1e-3
    """Weight of the (negated) entropy of the batch's mean code distribution."""
    projector_weight: float = 1e-5
    """Weight of the projector NLL terms (paired NLLs and the cycle NLL)."""
    use_text_only: bool = True
    """Train on text-only data too (ablation switch)."""
    use_cycle: bool = True
    """Add the cycle NLL on text-only data (ablation switch)."""


@dataclass(frozen=True)
class PriorStageConfig(LoopConfig):
    """Policy-prior behaviour cloning."""

    steps: int = 800
    learning_rate: float = 1e-3
    batch_size: int = 64


@dataclass(frozen=True)
class SFTStageConfig(LoopConfig):
    """Optional task SFT of the merge (reference learning rate 5e-5)."""

    steps: int = 200
    learning_rate: float = 5e-5


def _rows(n: int, config: LoopConfig, generator: torch.Generator) -> torch.Tensor:
    """The global batch's rows, drawn alike on every process; this process's share under data-parallel."""
    return shard_rows(torch.randint(n, (config.batch_size,), generator=generator, device=generator.device))


def world_model_ce(
    model: LatentActionModel, backbone: Backbone, states: torch.Tensor, code_weights: torch.Tensor,
    targets: torch.Tensor, mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the world model on the real next tokens, and its accuracy.

    Args:
        model: The latent model.
        backbone: The frozen backbone (final norm and LM head).
        states: (B, T + 1, d) states; steps read h_0 .. h_{T-1}.
        code_weights: (B, T, K) one-hot (possibly straight-through) codes.
        targets: (B, T) next tokens.
        mask: (B, T) valid steps.
    """
    x = model.merge(states[:, :-1], model.codebook.mix(code_weights))
    logits = model.readout(x[mask], backbone)
    gold = targets[mask]
    return nn.functional.cross_entropy(logits, gold), (logits.argmax(-1) == gold).float().mean()


def _check_features(data: Features, name: str, paired: bool) -> None:
    if len(data) == 0:
        raise ValueError(f"{name} features are empty; extract some with lam_envs.latent.features.extract_features")
    if paired and data.text_states is None:
        raise ValueError(f"{name} features have no text-only twin; extract them with with_text_twin=True")


def projector_stage(
    model: LatentActionModel, paired: Features, config: ProjectorStageConfig = ProjectorStageConfig(),
    *, run_dir: Path | None = None, progress: bool = True,
) -> list[dict[str, float]]:
    """Stage 1: fit both projectors on paired data (trains ``model.projector`` in place).

    Returns:
        The log rows.
    """
    _check_features(paired, "paired", paired=True)
    set_trainable(model, TRAINABLE["projector"])
    device = next(model.parameters()).device

    def loss_fn(gen: torch.Generator) -> dict[str, torch.Tensor]:
        b = paired.batch(_rows(len(paired), config, gen).cpu(), device)
        valid = torch.cat([torch.ones_like(b.mask[:, :1]), b.mask], dim=1)
        assert b.text_states is not None
        forward, reverse = model.projector.paired_nll(b.text_states, b.states, valid)
        return {"loss": forward + reverse, "nll_forward": forward, "nll_reverse": reverse}

    return train_loop(model, loss_fn, config, name="projector", run_dir=run_dir, progress=progress)


def joint_stage(
    model: LatentActionModel, backbone: Backbone, paired: Features, text: Features | None,
    config: JointStageConfig = JointStageConfig(), *, run_dir: Path | None = None, progress: bool = True,
) -> list[dict[str, float]]:
    """Stage 2: train inverse model, codebook, merge and (unless the model's config disables it) the projectors.

    Args:
        model: The latent model (trained in place).
        backbone: The frozen backbone.
        paired: Paired features (with text-only twins when the projector is used).
        text: Text-only features; ignored when ``config.use_text_only`` is False.
        config: Stage settings.
        run_dir: Log and checkpoint directory.
        progress: Show a progress bar.

    Returns:
        The log rows.
    """
    use_projector = model.config.use_projector
    use_text = config.use_text_only and text is not None
    _check_features(paired, "paired", paired=use_projector)
    set_trainable(model, TRAINABLE["joint" if use_projector else "joint_no_projector"])
    device = next(model.parameters()).device
    tau = model.config.gumbel_temperature

    def codes_and_ce(states: torch.Tensor, b: Features, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        logits = model.inverse(states)
        weights, _ = gumbel_straight_through(logits, tau, gen)
        ce, acc = world_model_ce(model, backbone, states, weights, b.targets, b.mask)
        return ce, acc, usage_entropy(logits, b.mask)

    def loss_fn(gen: torch.Generator) -> dict[str, torch.Tensor]:
        b = paired.batch(_rows(len(paired), config, gen).cpu(), device)
        ce, acc, entropy = codes_and_ce(b.states, b, gen)
        out = {"ce_paired": ce, "acc_paired": acc, "code_entropy": entropy}
        loss = ce - config.entropy_weight * entropy
        if use_projector:
            valid = torch.cat([torch.ones_like(b.mask[:, :1]), b.mask], dim=1)
            assert b.text_states is not None
            forward, reverse = model.projector.paired_nll(b.text_states, b.states, valid)
            loss = loss + config.projector_weight * (forward + reverse)
            out.update(nll_forward=forward, nll_reverse=reverse)
        if use_text:
            assert text is not None
            t = text.batch(_rows(len(text), config, gen).cpu(), device)
            states = model.projector.to_vision_text(t.states) if use_projector else t.states
            ce_t, acc_t, entropy_t = codes_and_ce(states, t, gen)
            loss = loss + ce_t - config.entropy_weight * entropy_t
            out.update(ce_text=ce_t, acc_text=acc_t)
            if use_projector and config.use_cycle:
                valid = torch.cat([torch.ones_like(t.mask[:, :1]), t.mask], dim=1)
                cycle = model.projector.cycle_nll(t.states, valid)
                loss = loss + config.projector_weight * cycle
                out["nll_cycle"] = cycle
        out["loss"] = loss
        return out

    return train_loop(model, loss_fn, config, name="joint", run_dir=run_dir, progress=progress)


@torch.no_grad()
def inverse_codes(model: LatentActionModel, data: Features, batch_size: int = 128) -> torch.Tensor:
    """The inverse model's argmax codes for every step of ``data``: (N, T) long (0 on padding), on the CPU."""
    device = next(model.parameters()).device
    model.eval()
    out = torch.zeros(data.targets.shape, dtype=torch.long)
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)))
        b = data.batch(index, device)
        out[index, : b.targets.shape[1]] = model.inverse(b.states).argmax(-1).cpu() * b.mask.cpu()
    return out


def prior_stage(
    model: LatentActionModel, paired: Features, config: PriorStageConfig = PriorStageConfig(),
    *, run_dir: Path | None = None, progress: bool = True,
) -> list[dict[str, float]]:
    """Stage 3: behaviour-clone the inverse model's argmax codes from h_t alone (trains ``model.prior``).

    Returns:
        The log rows.
    """
    _check_features(paired, "paired", paired=False)
    codes = inverse_codes(model, paired)
    # Flatten the valid steps once: the prior sees one state at a time.
    valid = paired.mask
    states = paired.states[:, :-1][valid]
    labels = codes[valid]
    set_trainable(model, TRAINABLE["prior"])
    device = next(model.parameters()).device

    def loss_fn(gen: torch.Generator) -> dict[str, torch.Tensor]:
        rows = _rows(len(labels), config, gen).cpu()
        logits = model.prior(states[rows].to(device).float())
        gold = labels[rows].to(device)
        ce = nn.functional.cross_entropy(logits, gold)
        return {"loss": ce, "acc": (logits.argmax(-1) == gold).float().mean()}

    return train_loop(model, loss_fn, config, name="prior", run_dir=run_dir, progress=progress)


def sft_stage(
    model: LatentActionModel, backbone: Backbone, task: Features, config: SFTStageConfig = SFTStageConfig(),
    *, run_dir: Path | None = None, progress: bool = True,
) -> list[dict[str, float]]:
    """Stage 4 (optional): adapt the merge to the tasks' SFT data with the policy prior's argmax codes.

    Returns:
        The log rows.
    """
    _check_features(task, "task", paired=False)
    set_trainable(model, TRAINABLE["sft"])
    device = next(model.parameters()).device

    def loss_fn(gen: torch.Generator) -> dict[str, torch.Tensor]:
        b = task.batch(_rows(len(task), config, gen).cpu(), device)
        with torch.no_grad():
            codes = model.prior(b.states[:, :-1]).argmax(-1)
        weights = nn.functional.one_hot(codes, model.num_codes).float()
        ce, acc = world_model_ce(model, backbone, b.states, weights, b.targets, b.mask)
        return {"loss": ce, "acc": acc}

    return train_loop(model, loss_fn, config, name="sft", run_dir=run_dir, progress=progress)
