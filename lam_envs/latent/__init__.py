"""The latent action model (DESIGN.md section 2): codebook, world-model merge, inverse dynamics model, cross-modal
projectors with cycle consistency, policy prior, and the stages that train them on top of a frozen backbone.

Runtime API: :class:`LatentActionModel` (``token_logits``, ``prior_logits``, ``save_pretrained`` /
``from_pretrained``), :func:`default_latent_dir` and :func:`random_latent_model`.
"""

from __future__ import annotations

from lam_envs.latent.config import LatentConfig, LatentConfigError
from lam_envs.latent.model import (
    LatentActionModel,
    default_latent_dir,
    latent_config_for,
    new_latent_model,
    random_latent_model,
)

__all__ = [
    "LatentActionModel",
    "LatentConfig",
    "LatentConfigError",
    "default_latent_dir",
    "latent_config_for",
    "new_latent_model",
    "random_latent_model",
]
