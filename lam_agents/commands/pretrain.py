"""``lam pretrain``: train the latent action model on top of a frozen backbone, stage by stage, resumably."""

from __future__ import annotations

import argparse
from pathlib import Path

STAGE_CHOICES = ("all", "projector", "joint", "prior", "sft")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pretrain the latent action model (projector init, joint, prior, optional task SFT)",
        description="Run the latent-model stages on the synthetic pretraining data. With the defaults on the "
        "embedded backbone this rebuilds the shipped K=128 default (--install copies it into the package).",
    )
    p.add_argument("--stages", nargs="+", choices=STAGE_CHOICES, default=["all"],
                   help="stages to run, in pipeline order ('all' = projector joint prior; add 'sft' for task SFT)")
    p.add_argument("--out", type=Path, default=Path("runs/latent"), help="run directory (default: runs/latent)")
    p.add_argument("--backbone", type=Path, default=None, help="backbone checkpoint dir (default: embedded)")
    p.add_argument("--num-codes", type=int, default=128, help="codebook size K (the paper's ablation: 32, 128, 512)")
    p.add_argument("--no-projector", action="store_true", help="ablation: text-only states skip the projector")
    p.add_argument("--no-cycle", action="store_true", help="ablation: no cycle loss on text-only data")
    p.add_argument("--no-text-only", action="store_true", help="ablation: no text-only data")
    p.add_argument("--resume", action="store_true", help="reuse finished stages and continue a killed one")
    p.add_argument("--install", action="store_true", help="copy the final model into the package's default dir")
    p.add_argument("--seed", type=int, default=0, help="seed of the data draw, initialisation and batches")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every stage's step count and the data sizes (e.g. 0.1 for a smoke run)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    """The :class:`~lam_envs.latent.pipeline.PretrainConfig` the arguments describe (its defaults build the shipped
    default)."""
    import dataclasses

    from lam_envs.latent.pipeline import PretrainConfig

    base = PretrainConfig()
    if args.scale <= 0:
        raise SystemExit(f"--scale={args.scale} must be positive")

    def scaled(stage, **kw):
        return dataclasses.replace(stage, steps=max(1, round(stage.steps * args.scale)), seed=args.seed, **kw)

    data = dataclasses.replace(
        base.data,
        seed=args.seed,
        n_paired=max(4, round(base.data.n_paired * args.scale)),
        n_text=0 if args.no_text_only else max(4, round(base.data.n_text * args.scale)),
    )
    return dataclasses.replace(
        base,
        data=data,
        num_codes=args.num_codes,
        use_projector=not args.no_projector,
        seed=args.seed,
        projector=scaled(base.projector),
        joint=scaled(base.joint, use_cycle=not args.no_cycle, use_text_only=not args.no_text_only),
        prior=scaled(base.prior),
        sft=scaled(base.sft),
    )


def _distributed_state():
    """accelerate's process state when started by ``accelerate launch`` with more than one process, else ``None``.

    It starts the ``torch.distributed`` group (gloo on CPU, NCCL on GPUs) that the training loop sums gradients
    over (:mod:`lam_envs.latent.loop`); lam_envs itself never imports accelerate.
    """
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    try:
        from accelerate import PartialState
    except ImportError:
        raise SystemExit("lam pretrain under several processes needs accelerate: pip install 'lam-gym[scale]'") from None
    return PartialState()


def _backbone_device(state) -> str:
    """Where this process puts the backbone (and so the latent model): its own GPU, ``cuda:<local rank>``
    (accelerate's ``PartialState.device``), when the launch uses CUDA; else the CPU, as in one process.

    NCCL reduces only CUDA tensors, so under a CUDA launch every rank must train on its GPU. The GPU case is untested:
    the tests run 2 gloo processes on the CPU.
    """
    if state is not None and state.device.type == "cuda":
        return str(state.device)
    return "cpu"


def run(args: argparse.Namespace) -> int:
    import json
    import time

    import torch

    from lam_envs.backbone import Backbone, BackboneConfig
    from lam_envs.backbone.default import backbone_name, default_backbone_dir
    from lam_envs.latent.pipeline import DEFAULT_STAGES, run_pretrain

    torch.set_num_threads(args.threads)
    state = _distributed_state()
    config = config_from_args(args)
    stages: list[str] = []
    for s in args.stages:
        stages += list(DEFAULT_STAGES) if s == "all" else [s]
    backbone = Backbone(BackboneConfig(args.backbone or default_backbone_dir(), device=_backbone_device(state)))
    if state is not None and not state.is_main_process:
        args.no_progress = True
    if state is None or state.is_main_process:
        where = f" on {state.num_processes} processes" if state is not None else ""
        print(f"pretraining stages {stages} into {args.out}{where} with {json.dumps(config.to_dict())}")
    started = time.perf_counter()
    final = run_pretrain(backbone, args.out, config, stages, resume=args.resume, progress=not args.no_progress)
    seconds = time.perf_counter() - started
    if state is not None and not state.is_main_process:
        return 0
    print(f"done in {seconds:.0f} s: {final}")
    if args.install:
        from lam_envs.builders.default_latent import install_latent  # installing an asset is building, not runtime

        note = {"config": config.to_dict(), "stages": stages, "seconds": round(seconds, 1), "threads": args.threads,
                "backbone": backbone_name(backbone.config.path)}
        print(f"installed into {install_latent(final, note=note)}")
    return 0
