"""The training stages (DESIGN.md section 2), each a function: model and data in, trained model and log out.

1. :func:`projector_stage`: fit P (e^T -> e^VT) and P' (e^VT -> e^T) by Gaussian NLL on paired data.
2. :func:`joint_stage`: inverse model + codebook + merge (+ projectors) on paired and text-only data: world-model
   cross-entropy on the real next token, an entropy term against code collapse, and small projector terms (paired
   NLLs, cycle NLL on text-only data); text-only states are replaced by P's mean.
3. :func:`prior_stage`: behaviour cloning of the inverse model's argmax codes from h_t alone.
4. :func:`sft_stage`: optional task SFT of the merge with the prior's argmax codes.

Each stage chooses its trainable set explicitly (:data:`TRAINABLE`); the backbone never trains. The pretraining
driver (:mod:`lam_envs.latent.pipeline`) saves a checkpoint after every stage.

**Data-parallel** (see :mod:`lam_envs.latent.loop`): every process draws the global batch and keeps its rows
(:class:`_Shard`), trimmed to the global batch's longest row, so that the inverse model's logits have the shape
they have in one process and the Gumbel noise, drawn for the whole global batch from the shared generator, is
sliced to the same rows. Token means become shard sums over the global batch's counts, and the code-usage entropy
is computed from the all-reduced sum of the code distributions, so 2 processes reproduce 1 process's losses and
gradients up to float32 summation order. In one process every function below runs the plain batch means and the
same draws as before data-parallel existed (``total=None``), bit for bit.
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
from lam_envs.latent.loop import (
    LoopConfig,
    share_of_global,
    shard_range,
    sum_over_processes,
    train_loop,
    world_size,
)
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


@dataclass(frozen=True)
class _Shard:
    """This process's rows of a global batch and the global batch's counts (``None`` without a process group)."""

    batch: Features
    """This process's rows, trimmed to the global batch's longest row, on the model's device."""
    rows: slice
    """Where they sit in the global batch."""
    size: int
    """Rows in the global batch."""
    total_targets: int | None
    """Valid targets in the global batch; ``None``: the batch is the global batch (plain means)."""
    total_states: int | None
    """Valid states in the global batch (targets plus each row's first state); ``None`` likewise."""


def _draw_rows(n: int, config: LoopConfig, generator: torch.Generator) -> torch.Tensor:
    """The global batch's row indices (the same on every process: they share the generator), on the CPU."""
    return torch.randint(n, (config.batch_size,), generator=generator, device=generator.device).cpu()


def _draw(data: Features, config: LoopConfig, generator: torch.Generator, device: torch.device) -> _Shard:
    """Draw the global batch of ``data`` and keep this process's shard of it (the whole batch in one process)."""
    rows = _draw_rows(len(data), config, generator)
    if world_size() == 1:
        return _Shard(data.batch(rows, device), slice(None), len(rows), None, None)
    # The global batch on the CPU first, so the shard keeps its length; only the shard moves to the device.
    full, part = data.batch(rows), shard_range(len(rows))
    text = None if full.text_states is None else full.text_states[part].to(device)
    batch = Features(full.states[part].to(device), full.targets[part].to(device), full.mask[part].to(device), text)
    targets = int(full.mask.sum())
    return _Shard(batch, part, len(rows), targets, targets + len(rows))


def _share(mean: torch.Tensor, count: torch.Tensor | int, total: int | None) -> torch.Tensor:
    """A shard's mean over ``count`` items as its share of the mean over ``total`` (``None``: the mean itself).

    Only for counts that are never 0 (valid states: each row's first state is always valid).
    """
    return mean if total is None else mean * (int(count) / total)


def _ce_and_accuracy(
    logits: torch.Tensor, gold: torch.Tensor, total: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token cross-entropy and accuracy: the means, or this shard's sums over the global ``total``."""
    if total is None:
        return nn.functional.cross_entropy(logits, gold), (logits.argmax(-1) == gold).float().mean()
    # Sums, not weighted means: a shard may hold no valid target at all (its share is then 0, not NaN).
    ce = nn.functional.cross_entropy(logits, gold, reduction="sum") / total
    return ce, (logits.argmax(-1) == gold).float().sum() / total


def _usage_entropy(logits: torch.Tensor, valid: torch.Tensor, total: int | None) -> torch.Tensor:
    """:func:`~lam_envs.latent.inverse.usage_entropy` of the global batch's mean code distribution (its share)."""
    if total is None:
        return usage_entropy(logits, valid)
    probs = torch.softmax(logits.float(), dim=-1)[valid]
    mean = (sum_over_processes(probs.sum(0)) / total).clamp_min(1e-12)
    return share_of_global(-(mean * mean.log()).sum())


def _gumbel(logits: torch.Tensor, temperature: float, generator: torch.Generator, shard: _Shard) -> torch.Tensor:
    """The straight-through Gumbel one-hot codes, with the noise the global batch draws in one process."""
    if shard.total_targets is None:
        return gumbel_straight_through(logits, temperature, generator)[0]
    shape = (shard.size, *logits.shape[1:])
    u = torch.rand(shape, generator=generator, device=logits.device, dtype=logits.dtype)[shard.rows]
    # The same noise expression as gumbel_straight_through, added here so that only this shard's rows get it.
    noisy = logits - torch.log(-torch.log(u.clamp(1e-9, 1.0 - 1e-9)))
    return gumbel_straight_through(noisy, temperature, None)[0]


def world_model_ce(
    model: LatentActionModel, backbone: Backbone, states: torch.Tensor, code_weights: torch.Tensor,
    targets: torch.Tensor, mask: torch.Tensor, total: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the world model on the real next tokens, and its accuracy.

    Args:
        model: The latent model.
        backbone: The frozen backbone (final norm and LM head).
        states: (B, T + 1, d) states; steps read h_0 .. h_{T-1}.
        code_weights: (B, T, K) one-hot (possibly straight-through) codes.
        targets: (B, T) next tokens.
        mask: (B, T) valid steps.
        total: ``None``: the means over the valid steps; else the sums divided by ``total`` (this shard's share of
            a global batch with ``total`` valid steps).
    """
    x = model.merge(states[:, :-1], model.codebook.mix(code_weights))
    logits = model.readout(x[mask], backbone)
    return _ce_and_accuracy(logits, targets[mask], total)


def _begin(
    model: LatentActionModel, trainable: str, data: Features, name: str, *, twin: bool = False
) -> torch.device:
    """What every stage does first: check its features (called ``name`` in errors), set its trainable set
    (``TRAINABLE[trainable]``) and return the model's device.

    Raises:
        ValueError: if ``data`` is empty, or has no text-only twin when ``twin`` asks for one.
    """
    if len(data) == 0:
        raise ValueError(f"{name} features are empty; extract some with lam_envs.latent.features.extract_features")
    if twin and data.text_states is None:
        raise ValueError(f"{name} features have no text-only twin; extract them with with_text_twin=True")
    set_trainable(model, TRAINABLE[trainable])
    return next(model.parameters()).device


def _valid_states(mask: torch.Tensor) -> torch.Tensor:
    """(B, T + 1) the valid states of a batch: each row's first state, then one per valid target."""
    return torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)


def _paired_nll(model: LatentActionModel, shard: _Shard) -> tuple[torch.Tensor, torch.Tensor]:
    """The projectors' Gaussian NLLs on the shard's paired states (P forward, P' reverse), as shares of the
    global batch's."""
    b = shard.batch
    valid = _valid_states(b.mask)
    assert b.text_states is not None
    forward, reverse = model.projector.paired_nll(b.text_states, b.states, valid)
    return _share(forward, valid.sum(), shard.total_states), _share(reverse, valid.sum(), shard.total_states)


def projector_stage(
    model: LatentActionModel, paired: Features, config: ProjectorStageConfig = ProjectorStageConfig(),
    *, run_dir: Path | None = None, progress: bool = True,
) -> list[dict[str, float]]:
    """Stage 1: fit both projectors on paired data (trains ``model.projector`` in place).

    Returns:
        The log rows.
    """
    device = _begin(model, "projector", paired, "paired", twin=True)

    def loss_fn(gen: torch.Generator) -> dict[str, torch.Tensor]:
        forward, reverse = _paired_nll(model, _draw(paired, config, gen, device))
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
    trainable = "joint" if use_projector else "joint_no_projector"
    device = _begin(model, trainable, paired, "paired", twin=use_projector)
    tau = model.config.gumbel_temperature

    def codes_and_ce(states: torch.Tensor, shard: _Shard, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        b, total = shard.batch, shard.total_targets
        logits = model.inverse(states)
        weights = _gumbel(logits, tau, gen, shard)
        ce, acc = world_model_ce(model, backbone, states, weights, b.targets, b.mask, total)
        return ce, acc, _usage_entropy(logits, b.mask, total)

    def loss_fn(gen: torch.Generator) -> dict[str, torch.Tensor]:
        shard = _draw(paired, config, gen, device)
        b = shard.batch
        ce, acc, entropy = codes_and_ce(b.states, shard, gen)
        out = {"ce_paired": ce, "acc_paired": acc, "code_entropy": entropy}
        loss = ce - config.entropy_weight * entropy
        if use_projector:
            forward, reverse = _paired_nll(model, shard)
            loss = loss + config.projector_weight * (forward + reverse)
            out.update(nll_forward=forward, nll_reverse=reverse)
        if use_text:
            assert text is not None
            text_shard = _draw(text, config, gen, device)
            t = text_shard.batch
            states = model.projector.to_vision_text(t.states) if use_projector else t.states
            ce_t, acc_t, entropy_t = codes_and_ce(states, text_shard, gen)
            loss = loss + ce_t - config.entropy_weight * entropy_t
            out.update(ce_text=ce_t, acc_text=acc_t)
            if use_projector and config.use_cycle:
                valid = _valid_states(t.mask)
                cycle = _share(model.projector.cycle_nll(t.states, valid), valid.sum(), text_shard.total_states)
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
    device = _begin(model, "prior", paired, "paired")
    codes = inverse_codes(model, paired)
    # Flatten the valid steps once: the prior sees one state at a time.
    valid = paired.mask
    states = paired.states[:, :-1][valid]
    labels = codes[valid]

    def loss_fn(gen: torch.Generator) -> dict[str, torch.Tensor]:
        rows = _draw_rows(len(labels), config, gen)
        total = None if world_size() == 1 else len(rows)
        rows = rows[shard_range(len(rows))]
        logits = model.prior(states[rows].to(device).float())
        ce, acc = _ce_and_accuracy(logits, labels[rows].to(device), total)
        return {"loss": ce, "acc": acc}

    return train_loop(model, loss_fn, config, name="prior", run_dir=run_dir, progress=progress)


def sft_stage(
    model: LatentActionModel, backbone: Backbone, task: Features, config: SFTStageConfig = SFTStageConfig(),
    *, run_dir: Path | None = None, progress: bool = True,
) -> list[dict[str, float]]:
    """Stage 4 (optional): adapt the merge to the tasks' SFT data with the policy prior's argmax codes.

    Returns:
        The log rows.
    """
    device = _begin(model, "sft", task, "task")

    def loss_fn(gen: torch.Generator) -> dict[str, torch.Tensor]:
        shard = _draw(task, config, gen, device)
        b = shard.batch
        with torch.no_grad():
            codes = model.prior(b.states[:, :-1]).argmax(-1)
        weights = nn.functional.one_hot(codes, model.num_codes).float()
        ce, acc = world_model_ce(model, backbone, b.states, weights, b.targets, b.mask, shard.total_targets)
        return {"loss": ce, "acc": acc}

    return train_loop(model, loss_fn, config, name="sft", run_dir=run_dir, progress=progress)
