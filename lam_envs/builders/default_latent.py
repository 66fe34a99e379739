"""The shipped default latent model: K=128 for the embedded default VLM, rebuilt deterministically.

``lam pretrain --install`` (or :func:`build_default_latent`) runs :mod:`lam_envs.latent.pipeline` with
:data:`DEFAULT_PRETRAIN` on the embedded backbone and copies the final model, stored in bfloat16 (a few MB), into
``lam_envs/assets/default/latent``, where :func:`~lam_envs.latent.model.default_latent_dir` finds it. The pipeline
itself is runtime (``lam pretrain`` trains latent models for any backbone); only the installation is building.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from lam_envs.latent.model import LatentActionModel, default_latent_dir
from lam_envs.latent.pipeline import DEFAULT_STAGES, PretrainConfig, run_pretrain

logger = logging.getLogger(__name__)

DEFAULT_PRETRAIN = PretrainConfig()
"""The settings the shipped default is built with."""


def install_latent(final_dir: str | Path, asset_dir: str | Path | None = None, note: dict | None = None) -> Path:
    """Copy a trained model into the package's asset directory in bfloat16.

    Args:
        final_dir: A checkpoint written by :meth:`LatentActionModel.save_pretrained`.
        asset_dir: Destination; defaults to :func:`default_latent_dir`.
        note: Extra facts to record in ``build.json`` (command, timings).

    Returns:
        The asset directory.
    """
    out = Path(asset_dir) if asset_dir is not None else default_latent_dir()
    model = LatentActionModel.from_pretrained(final_dir)
    model.save_pretrained(out, dtype=torch.bfloat16)
    (out / "build.json").write_text(json.dumps(note or {}, indent=1, default=str))
    return out


def build_default_latent(
    work_dir: str | Path, asset_dir: str | Path | None = None, *, threads: int = 2, resume: bool = False,
    progress: bool = True,
) -> Path:
    """Pretrain the default latent model on the embedded backbone and install it.

    Args:
        work_dir: Run directory for features, stage checkpoints and logs.
        asset_dir: Where to install; defaults to the package's asset directory.
        threads: Torch CPU threads.
        resume: Continue a killed build.
        progress: Show progress bars.

    Returns:
        The asset directory.
    """
    from lam_envs.backbone import Backbone, BackboneConfig
    from lam_envs.backbone.default import default_backbone_dir

    torch.set_num_threads(threads)
    started = time.perf_counter()
    backbone = Backbone(BackboneConfig(default_backbone_dir()))
    final = run_pretrain(backbone, work_dir, DEFAULT_PRETRAIN, DEFAULT_STAGES, resume=resume, progress=progress)
    note = {"config": DEFAULT_PRETRAIN.to_dict(), "stages": DEFAULT_STAGES, "seconds": time.perf_counter() - started,
            "threads": threads}
    return install_latent(final, asset_dir, note)
