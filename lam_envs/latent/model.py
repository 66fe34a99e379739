"""The runtime bundle: codebook, world-model merge, inverse model, projectors and policy prior in one checkpoint.

    model = LatentActionModel.from_pretrained(default_latent_dir())
    state = backbone.prefill(contexts)
    codes = model.prior_logits(state.h).argmax(-1)             # or the agent's action
    tokens = model.token_logits(state.h, codes, backbone).argmax(-1)
    backbone.step(state, tokens)

A checkpoint is a directory with ``config.json`` (a :class:`LatentConfig`, so K and d travel with the weights) and
``model.safetensors``. Weights may be stored in bfloat16 to keep the shipped default small; they load as float32.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from lam_envs.backbone.default import backbone_name
from lam_envs.latent.codebook import Codebook
from lam_envs.files import FLOAT_DTYPES, safetensors_header
from lam_envs.latent.config import CONFIG_NAME, WEIGHTS_NAME, LatentConfig, LatentConfigError
from lam_envs.latent.inverse import InverseDynamics
from lam_envs.latent.prior import PolicyPrior
from lam_envs.latent.projector import CrossModalProjector
from lam_envs.latent.world_model import Merge

if TYPE_CHECKING:
    from lam_envs.backbone.adapter import Backbone

logger = logging.getLogger(__name__)

ASSET_SUBDIR = ("assets", "default", "latent")


def default_latent_dir() -> Path:
    """Where the shipped K=128 latent model for the embedded default backbone lives inside the package."""
    return Path(str(resources.files("lam_envs").joinpath(*ASSET_SUBDIR)))


class LatentActionModel(nn.Module):
    """Everything learned on top of the frozen backbone.

    Args:
        config: Shapes and fixed hyperparameters.

    Attributes:
        codebook: K x d code embeddings.
        merge: The world model's merge (its output goes through the backbone's final norm and LM head).
        inverse: The inverse dynamics model (training and diagnostics only).
        projector: Forward and reverse cross-modal projectors (training and diagnostics only).
        prior: The policy prior over codes from h_t.
    """

    def __init__(self, config: LatentConfig) -> None:
        super().__init__()
        self.config = config
        self.codebook = Codebook(config.num_codes, config.hidden_size)
        self.merge = Merge(config.hidden_size, config.merge_width, config.merge_blocks)
        self.inverse = InverseDynamics(config.hidden_size, config.num_codes, config.inverse_layers, config.inverse_heads)
        self.projector = CrossModalProjector(config.hidden_size)
        self.prior = PolicyPrior(config.hidden_size, config.num_codes, config.prior_width, config.prior_blocks)

    @property
    def num_codes(self) -> int:
        """K, the size of the latent action space."""
        return self.config.num_codes

    # ------------------------------------------------------------------------------------------------ runtime
    def check_backbone(self, backbone: Backbone) -> None:
        """Raise if ``backbone`` does not have the width and vocabulary this model was trained with.

        Raises:
            LatentConfigError: on a mismatch.
        """
        if backbone.hidden_size != self.config.hidden_size or backbone.vocab_size != self.config.vocab_size:
            raise LatentConfigError(
                f"this latent model was trained for a backbone with d={self.config.hidden_size}, "
                f"V={self.config.vocab_size} ({self.config.backbone or 'unnamed'}), but the backbone has "
                f"d={backbone.hidden_size}, V={backbone.vocab_size}; train one for it with `lam pretrain --backbone`"
            )

    def merged_states(self, h: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """``Merge(h, c_codes)``: (..., d), (...) long -> (..., d) pre-norm states."""
        return self.merge(h.float(), self.codebook(codes))

    def readout(self, x: torch.Tensor, backbone: Backbone) -> torch.Tensor:
        """The backbone's own final norm and LM head on merged states: (..., d) -> (..., V) float32 logits.

        Differentiable with respect to ``x``; the backbone's parameters stay frozen.
        """
        normed = backbone.final_norm(x.to(backbone.dtype))
        return backbone.lm_head(normed)

    def token_logits(self, h: torch.Tensor, codes: torch.Tensor, backbone: Backbone) -> torch.Tensor:
        """Next-token logits of the world model: ``LMHead(final_norm(Merge(h, c_codes)))``.

        Batched and free of host-device synchronisation (it runs at every environment step). Without gradients
        (an env step, an evaluation) it runs the fused read-out of :meth:`greedy_tokens`; with them, the modules.

        Args:
            h: (B, d) context embeddings (``DecodeState.h``).
            codes: (B,) long codes in ``[0, K)``, on ``h``'s device.
            backbone: The frozen backbone whose final norm and LM head read the merged state.

        Returns:
            (B, V) float32 logits.
        """
        if torch.is_grad_enabled() and (h.requires_grad or any(p.requires_grad for p in self.merge.parameters())):
            return self.readout(self.merged_states(h, codes), backbone)
        logits = self._fused_logits(h, codes, backbone).float()
        # An inference tensor cannot be changed in place outside inference mode: hand such callers a plain one.
        return logits.clone() if logits.is_inference() and not torch.is_inference_mode_enabled() else logits

    @torch.inference_mode()
    def greedy_tokens(self, h: torch.Tensor, codes: torch.Tensor, backbone: Backbone) -> torch.Tensor:
        """``token_logits(h, codes, backbone).argmax(-1)`` without the float32 copy of the (B, V) logits.

        Args:
            h: (B, d) context embeddings.
            codes: (B,) long codes on ``h``'s device.
            backbone: The frozen backbone.

        Returns:
            (B,) long token ids, on the device (no host sync).
        """
        return self._fused_logits(h, codes, backbone).argmax(dim=-1)

    def _fused_logits(self, h: torch.Tensor, codes: torch.Tensor, backbone: Backbone) -> torch.Tensor:
        """The read-out in the backbone's dtype, with each block's gate and up projections fused into one matmul
        over ``norm(x)`` plus a per-code table for the code half of ``[norm(x); c]`` (the code's contribution
        ``W [0; c_a]`` depends on the code alone, so it is computed once per code, not once per step)."""
        with torch.inference_mode():
            tables = self._readout_tables()
            x = h.float()
            for block, (w_x, per_code) in zip(self.merge.blocks, tables):
                norm = block.norm
                normed = norm.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps)
                gate_up = nn.functional.linear(normed, w_x).add_(per_code.index_select(0, codes))
                gate, up = gate_up.chunk(2, dim=-1)
                x = x + nn.functional.linear(nn.functional.silu(gate).mul_(up), block.down.weight)
            x = x * self.merge.out_gain
            return backbone._lm_head(backbone.final_norm(x.to(backbone.dtype)))

    def _readout_tables(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per block: the fused ``[W_gate; W_up]`` columns that read ``norm(x)``, and the (K, 2I) table of what
        they add for each code. Rebuilt when a weight changes (an optimizer step, ``load_state_dict``): the key is
        the weights' version counters, so a training loop never reads a stale table."""
        params = [self.codebook.weight]
        for block in self.merge.blocks:
            params += [block.gate.weight, block.up.weight]
        key = tuple((id(p), p._version, p.device, p.dtype) for p in params)
        cached = self.__dict__.get("_tables")
        if cached is not None and cached[0] == key:
            return cached[1]
        d = self.config.hidden_size
        with torch.inference_mode():
            tables = []
            for block in self.merge.blocks:
                fused = torch.cat([block.gate.weight, block.up.weight], dim=0)  # (2I, 2d)
                tables.append((fused[:, :d].contiguous(), self.codebook.weight @ fused[:, d:].T))
        self.__dict__["_tables"] = (key, tables)  # a plain attribute: not a buffer, never saved
        return tables

    def prior_logits(self, h: torch.Tensor) -> torch.Tensor:
        """The policy prior's code logits from the context embedding alone: (B, d) -> (B, K) float32."""
        return self.prior(h)

    # ------------------------------------------------------------------------------------------------ files
    def save_pretrained(self, path: str | Path, dtype: torch.dtype = torch.float32) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into ``path`` (created if needed).

        Args:
            path: Checkpoint directory.
            dtype: Storage dtype of the weights (``torch.bfloat16`` halves the size; loading upcasts).

        Returns:
            ``path``.
        """
        out = Path(path)
        self.config.save(out)
        tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(out / WEIGHTS_NAME), metadata={"format": "pt"})
        return out

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu") -> LatentActionModel:
        """Load a checkpoint written by :meth:`save_pretrained` (float32, eval mode).

        Args:
            path: Checkpoint directory.
            device: Where to put the weights.

        Raises:
            LatentConfigError: if the directory, config or weights are missing or unreadable (truncated, not
                safetensors, a directory), the config is invalid, or the weights' names, shapes or dtypes disagree
                with the config.
        """
        config = LatentConfig.load(path)
        weights = Path(path) / WEIGHTS_NAME
        fix = "re-save the model with LatentActionModel.save_pretrained or rebuild it with `lam pretrain`"
        header = safetensors_header(weights, LatentConfigError, fix)
        model = cls(config)
        _check_tensors(weights, header, model.state_dict(), config, fix)
        state = {k: v.float() for k, v in load_file(str(weights)).items()}
        model.load_state_dict(state)
        model.to(device)
        model.eval()
        logger.info("loaded latent model from %s: K=%d, d=%d", path, config.num_codes, config.hidden_size)
        return model


def _check_tensors(
    weights: Path,
    header: dict[str, tuple[str, tuple[int, ...]]],
    expected: dict[str, torch.Tensor],
    config: LatentConfig,
    fix: str,
) -> None:
    """Raise unless the file's tensors are exactly the model's: same names, shapes, and floating dtypes."""
    missing = sorted(set(expected) - set(header))
    unexpected = sorted(set(header) - set(expected))
    shapes = [
        f"{k} {list(header[k][1])} (config says {list(expected[k].shape)})"
        for k in sorted(set(header) & set(expected))
        if header[k][1] != tuple(expected[k].shape)
    ]
    dtypes = [f"{k} {header[k][0]}" for k in sorted(header) if header[k][0] not in FLOAT_DTYPES]
    found = {"missing": missing, "unexpected": unexpected, "wrong shape": shapes, "not floating point": dtypes}
    problems = [
        f"{label} {items[:5]}" + (f" and {len(items) - 5} more" if len(items) > 5 else "")
        for label, items in found.items()
        if items
    ]
    if problems:
        raise LatentConfigError(
            f"{weights} does not match its {CONFIG_NAME} (K={config.num_codes}, d={config.hidden_size}, "
            f"V={config.vocab_size}): {'; '.join(problems)}. The config and weights must come from one "
            f"save_pretrained call (or another lam-gym version wrote them); {fix}"
        )


def latent_config_for(backbone: Backbone, num_codes: int = 128, **overrides: object) -> LatentConfig:
    """A :class:`LatentConfig` sized for ``backbone`` (its d and V), with ``overrides`` for other fields."""
    return LatentConfig(
        hidden_size=backbone.hidden_size,
        vocab_size=backbone.vocab_size,
        num_codes=num_codes,
        backbone=backbone_name(backbone.config.path),
        **overrides,  # type: ignore[arg-type]
    )


def new_latent_model(backbone: Backbone, config: LatentConfig, seed: int = 0) -> LatentActionModel:
    """A freshly initialised model for ``backbone``, seeded, with the merge's gain matched to its final norm.

    Args:
        backbone: The frozen backbone (read for its final-norm weight and device).
        config: The model's settings (d and V must match the backbone).
        seed: Seed of the weight initialisation (the caller's global generator is left untouched).

    Returns:
        The model in train mode on the backbone's device.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LatentActionModel(config)
    model.check_backbone(backbone)
    norm_weight = getattr(backbone.final_norm, "weight", None)
    if norm_weight is not None:
        model.merge.match_final_norm(norm_weight)
    return model.to(backbone.device)


def random_latent_model(backbone: Backbone, num_codes: int = 128, seed: int = 0) -> LatentActionModel:
    """A real, seeded, untrained latent model for ``backbone`` (for tests and smoke runs), in eval mode.

    Its codes already change the read-out (the merge's residual weights are small but not zero).
    """
    return new_latent_model(backbone, latent_config_for(backbone, num_codes), seed).eval()
