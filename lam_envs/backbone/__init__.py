"""Adapters over Hugging Face VLMs: encode a context, step with a KV cache, read out next-token logits.

:class:`Backbone` is the only runtime code in lam-gym that loads or runs the frozen VLM. Supported families:
Qwen2.5-VL and LLaVA. Checkpoints are built apart, in :mod:`lam_envs.builders` (tiny random ones of both families, and
the training of the embedded default), which nothing here imports.
"""

from __future__ import annotations

from lam_envs.backbone.adapter import Backbone
from lam_envs.backbone.config import BackboneConfig, BackboneConfigError
from lam_envs.backbone.inputs import Context
from lam_envs.backbone.state import DecodeState

__all__ = ["Backbone", "BackboneConfig", "BackboneConfigError", "Context", "DecodeState"]
