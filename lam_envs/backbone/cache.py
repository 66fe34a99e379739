"""Bounded caches of what a prefill computes: image features per image, and the KV rows of whole prompts.

Serving engines reuse a prompt's KV cache when the prompt comes back (prefix caching); lam-gym does the same for the
two things a prefill repeats most: a GRPO group writes ``group_size`` replies to one prompt, and episodes drawn from
a finite sample list meet the same image and the same prompt again. Both caches are LRUs bounded in **bytes** of
tensor storage (``max_bytes``), so a long run cannot grow them without bound; ``max_bytes=0`` turns a cache off.
The cached tensors live where they were computed (the backbone's device).

Keys are content, not identity: an image is keyed by a hash of its mode, size and pixels (every reset loads a new
``PIL.Image`` object of the same file), a prompt by its token ids and its image's key.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, Hashable, TypeVar

import torch
from PIL import Image

V = TypeVar("V")

DEFAULT_IMAGE_CACHE_BYTES = 64 * 2**20
"""Default bound of :attr:`Backbone.image_cache <lam_envs.backbone.Backbone.image_cache>` (64 MiB)."""
DEFAULT_PROMPT_CACHE_BYTES = 256 * 2**20
"""Default bound of :attr:`Backbone.prompt_cache <lam_envs.backbone.Backbone.prompt_cache>` (256 MiB)."""


def image_key(image: Image.Image) -> str:
    """A content key of ``image``: equal for equal pixels, whatever ``PIL.Image`` object holds them."""
    digest = hashlib.blake2b(image.tobytes(), digest_size=16)
    digest.update(f"{image.mode}{image.size}".encode())
    return digest.hexdigest()


def tensor_bytes(value: Any) -> int:
    """Bytes of tensor storage in ``value`` (a tensor, or a dict / list / tuple / dataclass of them)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return sum(tensor_bytes(getattr(value, name)) for name in value.__dataclass_fields__)
    return 0


class BoundedCache(Generic[V]):
    """A least-recently-used map whose values' tensor storage never exceeds ``max_bytes`` in total.

    Putting a value evicts the least recently used entries until it fits; a value larger than the whole bound is
    not stored. Values must not be modified after :meth:`put` (callers copy what they change).

    Args:
        max_bytes: The bound (>= 0; 0 stores nothing).
        name: Shown in :meth:`__repr__` and in :meth:`stats`.
    """

    def __init__(self, max_bytes: int, name: str = "cache") -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes={max_bytes} must be >= 0 (0 turns the {name} off)")
        self.max_bytes = int(max_bytes)
        self.name = name
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self.nbytes = 0
        """Bytes held now (always <= ``max_bytes``)."""
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable) -> V | None:
        """The value under ``key`` (now the most recently used), or ``None``; counts a hit or a miss."""
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: Hashable, value: V) -> bool:
        """Store ``value`` under ``key``, evicting old entries to stay within ``max_bytes``.

        Returns:
            Whether it was stored (``False`` when it alone exceeds the bound).
        """
        size = tensor_bytes(value)
        if key in self._items:
            self.nbytes -= self._items.pop(key)[1]
        if size > self.max_bytes:
            return False
        while self.nbytes + size > self.max_bytes:
            _, (_, old) = self._items.popitem(last=False)
            self.nbytes -= old
        self._items[key] = (value, size)
        self.nbytes += size
        return True

    def clear(self) -> None:
        """Drop every entry (the hit and miss counts stay)."""
        self._items.clear()
        self.nbytes = 0

    def stats(self) -> dict[str, int]:
        """Entries, bytes held, bound, hits and misses."""
        return {"entries": len(self), "bytes": self.nbytes, "max_bytes": self.max_bytes, "hits": self.hits,
                "misses": self.misses}

    def __repr__(self) -> str:
        return f"BoundedCache({self.name}: {len(self)} entries, {self.nbytes} of {self.max_bytes} bytes)"


@dataclass
class PromptRow:
    """One prompt's prefilled state, without padding: what :meth:`Backbone.prefill` shares across rows.

    Attributes:
        keys: Per layer, (1, kv_heads, L, head_dim) keys.
        values: Per layer, (1, kv_heads, L, head_dim) values.
        next_pos: (1,) long, the next token's position.
        h: (1, d) context embedding at the last prompt token.
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    next_pos: torch.Tensor
    h: torch.Tensor

    @property
    def length(self) -> int:
        """L, the prompt's token count."""
        return int(self.keys[0].shape[2])

    @classmethod
    def of(cls, state: Any, row: int, length: int) -> PromptRow:
        """Row ``row`` of a freshly prefilled ``DecodeState`` without its left padding (``length`` real tokens), as
        copies."""
        layers = state.cache.layers
        with torch.inference_mode():
            keys = [layer.keys[row : row + 1, :, -length:].clone() for layer in layers]
            values = [layer.values[row : row + 1, :, -length:].clone() for layer in layers]
            return cls(keys, values, state.next_pos[row : row + 1].clone(), state.h[row : row + 1].clone())
