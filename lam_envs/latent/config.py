"""The latent action model's settings, saved as ``config.json`` beside its weights.

A checkpoint states its own codebook size K and width d, so nothing about its shape is read from the environment or
guessed from a path (a weakness of the reference implementation that lam-gym does not repeat).
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from lam_envs.files import read_json_object

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_JSON_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}
"""JSON value types each annotated field type accepts (annotations are strings under ``from __future__``)."""


class LatentConfigError(ValueError):
    """A latent-model setting or checkpoint directory is unusable."""


@dataclass(frozen=True)
class LatentConfig:
    """Shapes and fixed hyperparameters of a :class:`~lam_envs.latent.model.LatentActionModel`.

    Attributes:
        hidden_size: Width d of the backbone's context embedding h_t (must match the backbone).
        vocab_size: Number of LM-head outputs V of the backbone it was trained with (checked at load time).
        num_codes: Codebook size K: the latent action space is ``Discrete(K)``.
        merge_blocks: Residual gated-MLP (SwiGLU) blocks of the world-model merge.
        merge_intermediate: Inner width of each merge block; ``0`` means ``2 * hidden_size``.
        inverse_layers: Causal transformer layers of the inverse dynamics model.
        inverse_heads: Attention heads of those layers (must divide ``hidden_size``).
        prior_hidden: Width of the policy prior's residual MLP; ``0`` means ``2 * hidden_size``.
        prior_blocks: Residual blocks of the policy prior.
        gumbel_temperature: Temperature of the inverse model's straight-through Gumbel-softmax.
        use_projector: Whether text-only states go through the cross-modal projector (ablation switch; the weights
            exist either way so that every checkpoint has the same layout).
        backbone: Free-text description of the backbone it was trained on (for humans; not used to load anything).
    """

    hidden_size: int
    vocab_size: int
    num_codes: int = 128
    merge_blocks: int = 2
    merge_intermediate: int = 0
    inverse_layers: int = 2
    inverse_heads: int = 4
    prior_hidden: int = 0
    prior_blocks: int = 2
    gumbel_temperature: float = 2.0
    use_projector: bool = True
    backbone: str = ""

    def __post_init__(self) -> None:
        for name in ("hidden_size", "vocab_size", "num_codes", "merge_blocks", "inverse_layers", "inverse_heads"):
            if int(getattr(self, name)) <= 0:
                raise LatentConfigError(f"{name}={getattr(self, name)} must be a positive integer")
        if self.num_codes < 2:
            raise LatentConfigError(f"num_codes={self.num_codes} must be at least 2 (a one-code action space is empty)")
        if self.hidden_size % self.inverse_heads:
            raise LatentConfigError(
                f"inverse_heads={self.inverse_heads} must divide hidden_size={self.hidden_size}; try 4 or 8"
            )
        if self.hidden_size % 2:
            raise LatentConfigError(f"hidden_size={self.hidden_size} must be even (projectors use d/2 hidden units)")
        if self.merge_intermediate < 0 or self.prior_hidden < 0 or self.prior_blocks < 0:
            raise LatentConfigError("merge_intermediate, prior_hidden and prior_blocks must be >= 0")
        if not self.gumbel_temperature > 0:
            raise LatentConfigError(f"gumbel_temperature={self.gumbel_temperature} must be > 0 (the reference uses 2.0)")

    @property
    def merge_width(self) -> int:
        """Resolved inner width of a merge block."""
        return self.merge_intermediate or 2 * self.hidden_size

    @property
    def prior_width(self) -> int:
        """Resolved width of the policy prior."""
        return self.prior_hidden or 2 * self.hidden_size

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatentConfig:
        """Build from a dict, rejecting unknown keys (a typo must not silently fall back to a default).

        Raises:
            LatentConfigError: on unknown or missing keys, or invalid values.
        """
        if not isinstance(data, dict):
            raise LatentConfigError(f"a latent config is an object of settings, not a {type(data).__name__}")
        known = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise LatentConfigError(f"unknown latent config keys {unknown}; known keys: {sorted(known)}")
        missing = sorted(f.name for f in fields(cls) if f.name not in data and f.default is MISSING)
        if missing:
            raise LatentConfigError(f"latent config lacks the required keys {missing}")
        for name, value in data.items():
            allowed = _JSON_TYPES[known[name]]
            # bool is an int in Python, but `"num_codes": true` is a broken file, not K=1.
            if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
                raise LatentConfigError(f"{name}={value!r} must be a JSON {known[name]}, not {type(value).__name__}")
        return cls(**data)

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` into ``directory`` (created if needed) and return its path."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        out = path / CONFIG_NAME
        out.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True))
        return out

    @classmethod
    def load(cls, directory: str | Path) -> LatentConfig:
        """Read ``config.json`` from a checkpoint directory.

        Raises:
            LatentConfigError: if the file is missing, unreadable, not a JSON object, or not a valid config.
        """
        directory = Path(directory)
        fix = "point at a directory written by LatentActionModel.save_pretrained (or build one with `lam pretrain`)"
        if not directory.is_dir():
            raise LatentConfigError(f"latent checkpoint {directory} does not exist or is not a directory; {fix}")
        path = directory / CONFIG_NAME
        data = read_json_object(path, LatentConfigError, fix)
        try:
            return cls.from_dict(data)
        except LatentConfigError as exc:
            raise LatentConfigError(f"{path}: {exc}; {fix}") from None
