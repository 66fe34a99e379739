"""A resumable training loop shared by the stages: AdamW, warm-up + cosine schedule, CSV log, periodic checkpoints.

The embedded default VLM's build (:mod:`lam_envs.builders.default_vlm`) trains with the same loop and schedule.

A killed run resumes from ``<stage dir>/partial.pt`` (model, optimizer, batch-sampling generator, step and log), so
the resumed run continues exactly as the uninterrupted one would have. The file holds tensors and plain containers
only and is read with ``weights_only=True``: a crafted one is refused, never run.

**Data-parallel.** Under ``accelerate launch`` (or any ``torch.distributed`` process group) every process holds the
whole model and the frozen backbone, draws the same global batch from the same generator and computes the loss on
its contiguous share of the rows (:func:`shard_range`). A loss function returns this process's *additive share* of
the global batch's loss and metrics (a masked-token mean becomes the shard's token sum over the global batch's
token count; a term of global statistics, such as the entropy of the batch's mean code distribution, goes through
:func:`sum_over_processes` and :func:`share_of_global`), so one all-reduce *sum* of the trainable parameters'
gradients before the clip and the step is the 1-process gradient of the global batch, and the summed metrics are
its logged values; only float32 summation order differs. Without a process group a share is the batch's value
itself and nothing is reduced, so the 1-process path is the plain one. The frozen backbone has no gradients and is
never synced. Rank 0 alone writes the log and the checkpoints; the partial checkpoint holds the global generator
state, so a run resumes on any number of processes. This module imports no accelerate: the caller starts the
process group.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from lam_envs.files import load_tensor_archive
from lam_envs.latent.config import LatentConfigError

logger = logging.getLogger(__name__)

PARTIAL_NAME = "partial.pt"
LOG_NAME = "log.csv"
_PARTIAL_KEYS = {"model", "optimizer", "generator", "step", "log"}


@dataclass(frozen=True)
class LoopConfig:
    """Optimisation settings every stage has."""

    steps: int = 500
    """Optimizer steps (fixed, so that a rebuild is deterministic)."""
    batch_size: int = 32
    """Examples per step (per data kind where a stage mixes kinds)."""
    learning_rate: float = 1e-4
    """Peak AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_fraction: float = 0.05
    """Share of the steps with a linear warm-up; the rest decays by a cosine to 10% of the peak."""
    grad_clip: float = 1.0
    """Global gradient-norm clip."""
    seed: int = 0
    """Seed of the batch sampling and the Gumbel noise."""
    checkpoint_every: int = 200
    """Steps between resumable checkpoints (0: none)."""
    log_every: int = 10
    """Steps between CSV log rows."""

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size <= 0 or self.learning_rate <= 0:
            raise ValueError(
                f"steps={self.steps}, batch_size={self.batch_size}, learning_rate={self.learning_rate}: steps must "
                "be >= 0, batch size and learning rate positive"
            )
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction={self.warmup_fraction} must lie in [0, 1)")

    def lr_at(self, step: int) -> float:
        """Learning rate of ``step``."""
        return warmup_cosine_lr(step, self.learning_rate, int(self.warmup_fraction * self.steps), self.steps)


def warmup_cosine_lr(step: int, peak: float, warmup_steps: int, steps: int) -> float:
    """The schedule: a linear warm-up over ``warmup_steps``, then a cosine decay from ``peak`` to 10% at ``steps``.

    A warm-up longer than the run (a short test build) simply never reaches the peak.
    """
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _world() -> tuple[int, int]:
    """``(rank, world_size)`` of the running ``torch.distributed`` group, ``(0, 1)`` without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """True on rank 0 (and without a process group): the process that writes files."""
    return _world()[0] == 0


def barrier() -> None:
    """Wait for every process (nothing without a process group)."""
    import torch.distributed as dist

    if _world()[1] > 1:
        dist.barrier()


def world_size() -> int:
    """Processes in the running ``torch.distributed`` group (1 without one)."""
    return _world()[1]


def shard_range(n: int) -> slice:
    """This process's contiguous share of a global batch of ``n`` rows (all of them without a process group).

    Raises:
        ValueError: if the batch does not split evenly over the processes.
    """
    rank, world = _world()
    if world == 1:
        return slice(0, n)
    if n % world:
        raise ValueError(f"batch_size={n} does not split over {world} processes; use a multiple of {world}")
    size = n // world
    return slice(rank * size, (rank + 1) * size)


def sum_over_processes(local: torch.Tensor) -> torch.Tensor:
    """The sum of ``local`` over the processes, differentiable in this process's own term only.

    Each process's graph then holds its rows' part of the gradient of anything computed from the sum; the loop's
    gradient all-reduce adds the parts. Without a process group: ``local`` itself.
    """
    import torch.distributed as dist

    if _world()[1] == 1:
        return local
    total = local.detach().clone()
    dist.all_reduce(total)
    return total + (local - local.detach())


def share_of_global(value: torch.Tensor) -> torch.Tensor:
    """A term every process computes whole (from :func:`sum_over_processes` statistics) as this process's additive
    share: its value divided by the number of processes, its gradient (this process's rows' part) kept whole.

    Without a process group: ``value`` itself.
    """
    world = _world()[1]
    if world == 1:
        return value
    return value - (1 - 1 / world) * value.detach()


def _sum_gradients(params: list[nn.Parameter]) -> None:
    """Add up the processes' gradients: the shares' gradients sum to the global batch's gradient."""
    import torch.distributed as dist

    if _world()[1] == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for p, g in zip(params, grads):
        p.grad = flat[offset:offset + g.numel()].view_as(g).clone()
        offset += g.numel()


def _sum_over_processes(metrics: dict[str, torch.Tensor]) -> dict[str, float]:
    """The metrics' shares added up over the processes: the global batch's values."""
    import torch.distributed as dist

    values = torch.stack([v.detach().float().reshape(()) for v in metrics.values()])
    if _world()[1] > 1:
        dist.all_reduce(values)
    return {k: float(v) for k, v in zip(metrics, values)}


LossFn = Callable[[torch.Generator], dict[str, torch.Tensor]]
"""Draws the global batch with the generator and returns ``{"loss": ..., other metrics...}`` (scalars): this
process's additive shares of them (the batch's values without a process group; see the module docstring)."""


def _write_csv(path: Path, rows: list[dict[str, float]]) -> None:
    if not rows:
        return
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def _resume(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator, config: LoopConfig
) -> tuple[int, list[dict[str, float]]]:
    """Restore model, optimizer and generator from a partial checkpoint; return its step and log rows.

    The file holds only tensors and plain containers and is read with ``weights_only=True``, so a crafted one is
    refused instead of run. Anything that does not fit this run (another model shape, optimizer or step count) is a
    :class:`LatentConfigError` naming the file and the fix: the run stops rather than go on half-restored.
    """
    fix = f"delete {path} to restart this stage from its beginning (or run `lam pretrain` without --resume)"
    saved = load_tensor_archive(path, LatentConfigError, fix)
    if not isinstance(saved, dict) or set(saved) != _PARTIAL_KEYS:
        found = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
        raise LatentConfigError(
            f"{path} is not a partial checkpoint: expected keys {sorted(_PARTIAL_KEYS)}, found {found}; {fix}"
        )
    step, log, state = saved["step"], saved["log"], saved["generator"]
    if not isinstance(step, int) or isinstance(step, bool) or not 0 < step < config.steps:
        raise LatentConfigError(f"{path}: step={step!r} is not a step inside this run's {config.steps}; {fix}")
    if not (isinstance(log, list) and all(isinstance(r, dict) for r in log)):
        raise LatentConfigError(f"{path}: the log must be a list of rows; {fix}")
    if not (isinstance(state, torch.Tensor) and state.dtype == torch.uint8):
        raise LatentConfigError(f"{path}: the generator state must be a uint8 tensor; {fix}")
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        generator.set_state(state)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise LatentConfigError(f"{path} does not fit this run ({type(exc).__name__}: {exc}); {fix}") from None
    return step, list(log)


def train_loop(
    model: nn.Module,
    loss_fn: LossFn,
    config: LoopConfig,
    *,
    name: str,
    run_dir: Path | None = None,
    progress: bool = True,
    fused: bool = True,
) -> list[dict[str, float]]:
    """Optimise the parameters of ``model`` that require grad.

    Args:
        model: The model (its trainable set is already chosen by the caller).
        loss_fn: See :data:`LossFn`.
        config: Optimisation settings.
        name: Progress-bar label.
        run_dir: Where the CSV log and resumable checkpoints go (resumes from one found there); ``None`` for none.
        progress: Show a progress bar.
        fused: Use torch's fused AdamW kernel. The per-tensor kernel rounds differently in the last bit; the
            embedded default VLM was built with it, so its build passes ``False`` to rebuild the shipped weights.

    Returns:
        The log rows (step, lr and every metric ``loss_fn`` returned).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"stage {name!r} has no trainable parameters")
    # The fused kernel: the unfused per-tensor update cost more than the forward pass on 2 CPU cores. Otherwise
    # torch's default choice (None), which is what the default VLM was built with.
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay,
                                  fused=True if fused else None)
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(config.seed)
    start, rows = 0, []
    partial = run_dir / PARTIAL_NAME if run_dir is not None else None
    if partial is not None and partial.exists():
        start, rows = _resume(partial, model, optimizer, generator, config)
        logger.info("%s: resuming from step %d (%s)", name, start, partial)
    main = is_main_process()
    if run_dir is not None and main:
        run_dir.mkdir(parents=True, exist_ok=True)
    model.train()
    bar = tqdm(range(start, config.steps), desc=name, disable=not progress, unit="step", initial=start,
               total=config.steps)
    for step in bar:
        lr = config.lr_at(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        metrics = loss_fn(generator)
        metrics["loss"].backward()
        _sum_gradients(params)
        nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % config.log_every == 0 or step == config.steps - 1:
            row = {"step": float(step), "lr": lr, **_sum_over_processes(metrics)}
            rows.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}")
            if run_dir is not None and main:
                _write_csv(run_dir / LOG_NAME, rows)
        done = step + 1
        if (partial is not None and main and config.checkpoint_every and done % config.checkpoint_every == 0
                and done < config.steps):
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "generator": generator.get_state(), "step": done, "log": rows}
            torch.save(state, partial.with_suffix(".tmp"))
            partial.with_suffix(".tmp").replace(partial)  # atomic: a kill mid-write leaves the last good one
    model.eval()
    barrier()  # every rank has finished reading the partial checkpoint before rank 0 removes it
    if partial is not None and main and partial.is_file():
        partial.unlink()
    return rows
