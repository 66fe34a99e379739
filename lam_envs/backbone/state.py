"""The batched decode state and the KV-cache surgery that replaces finished rows.

Rows are left-padded: every row's real tokens end at the last column, so one new token per row is one new column.
Because every row carries its own next position and every cached key already has its rotary position applied, the
column a key sits in is irrelevant; only the attention mask says which columns a row may see. That is what makes
splicing safe: a freshly prefilled row can be dropped into the batch after padding either side on the left, and it
attends to exactly the keys it would have attended to alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


@dataclass
class DecodeState:
    """KV cache and bookkeeping for B rows being decoded together.

    Attributes:
        cache: Per-layer keys/values of shape (B, kv_heads, L, head_dim).
        attention_mask: (B, L) long; 1 where the column holds one of the row's tokens, 0 for left padding.
        next_pos: (B,) long; the position id the row's next token gets (for Qwen2.5-VL this is the text position
            after the image's 3-D positions, not the token count).
        h: (B, d) final normed hidden state at each row's last token (a plain tensor usable in autograd graphs).
    """

    cache: DynamicCache
    attention_mask: torch.Tensor
    next_pos: torch.Tensor
    h: torch.Tensor

    @property
    def batch_size(self) -> int:
        """Number of rows B."""
        return int(self.attention_mask.shape[0])

    @property
    def length(self) -> int:
        """Number of cached columns L (padding included); a host-side int, no device sync."""
        return int(self.attention_mask.shape[1])


def left_pad(x: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """Pad ``x`` with zeros at the start of ``dim`` up to ``length``."""
    missing = length - x.shape[dim]
    if missing <= 0:
        return x
    shape = list(x.shape)
    shape[dim] = missing
    return torch.cat([x.new_zeros(shape), x], dim=dim)


def dynamic_layers(cache: DynamicCache) -> list[DynamicLayer]:
    layers = list(cache.layers)
    for layer in layers:
        # Sliding-window layers drop old columns themselves, which would desynchronise them from the mask.
        if type(layer) is not DynamicLayer:
            raise TypeError(f"cannot splice a {type(layer).__name__}; only full-attention DynamicLayer caches")
    return layers


def splice_rows(state: DecodeState, rows: torch.Tensor, fresh: DecodeState) -> None:
    """Overwrite the cache, mask and positions of ``rows`` with those of ``fresh``, in place.

    ``state.h`` is left to the caller, which updates it outside ``torch.inference_mode`` so that it stays usable in
    autograd graphs.

    The shorter of the two caches is left-padded to the longer; afterwards, leading columns that no row attends to
    any more are dropped so that a long-lived batch does not grow without bound.

    Args:
        state: The batch being decoded.
        rows: (n,) long row indices of ``state`` to replace, on the state's device.
        fresh: A state of n rows, prefilled on its own.
    """
    length = max(state.length, fresh.length)
    old_layers = dynamic_layers(state.cache)
    new_layers = dynamic_layers(fresh.cache)
    for old, new in zip(old_layers, new_layers, strict=True):
        keys = left_pad(old.keys, length, dim=2)
        values = left_pad(old.values, length, dim=2)
        keys[rows] = left_pad(new.keys, length, dim=2).to(keys.dtype)
        values[rows] = left_pad(new.values, length, dim=2).to(values.dtype)
        old.keys, old.values = keys, values
    mask = left_pad(state.attention_mask, length, dim=1)
    mask[rows] = left_pad(fresh.attention_mask, length, dim=1)
    state.attention_mask = mask
    state.next_pos[rows] = fresh.next_pos
    _trim_dead_columns(state, old_layers)


def _trim_dead_columns(state: DecodeState, layers: list[DynamicLayer]) -> None:
    # One host sync per replacement (not per token): find the first column any row still attends to.
    used = state.attention_mask.any(dim=0)
    first = int(used.int().argmax().item()) if bool(used.any()) else 0
    if first == 0:
        return
    for layer in layers:
        layer.keys = layer.keys[:, :, first:].contiguous()
        layer.values = layer.values[:, :, first:].contiguous()
    state.attention_mask = state.attention_mask[:, first:].contiguous()


def relaid_rows(sub: DynamicCache, history: torch.Tensor, block: torch.Tensor, next_pos: torch.Tensor, h: torch.Tensor,
                out: DynamicCache) -> DecodeState:
    """Rows that were extended in a cache of their own (``sub``: their L history columns, then m new ones), each laid
    out as one contiguous run (its own history columns, then its own new tokens) and left-padded to the longest, for
    :func:`splice_rows`.

    Args:
        sub: The extended rows' cache, (n, heads, L + m, head_dim) per layer.
        history: (n, L) their attention mask before the new tokens.
        block: (n, m) 1 where a new column holds one of the row's new tokens (left-padded within the block).
        next_pos: (n,) their next positions before the new tokens.
        h: (n, d) their context embeddings after the new tokens.
        out: An empty cache to fill.
    """
    length, m = history.shape[1], block.shape[1]
    counts = [int(c) for c in history.sum(dim=1).tolist()]
    new = [int(c) for c in block.sum(dim=1).tolist()]
    own = [c + t for c, t in zip(counts, new)]
    width = max(own)

    def relaid(x: torch.Tensor) -> torch.Tensor:
        parts = [torch.cat([x[j : j + 1, :, length - c : length], x[j : j + 1, :, length + m - t :]], dim=2)
                 for j, (c, t) in enumerate(zip(counts, new))]
        return torch.cat([left_pad(part, width, dim=2) for part in parts])

    for i, layer in enumerate(dynamic_layers(sub)):
        out.update(relaid(layer.keys), relaid(layer.values), i)
    mask = torch.zeros((len(own), width), dtype=torch.long, device=history.device)
    for j, size in enumerate(own):
        mask[j, width - size :] = 1
    return DecodeState(cache=out, attention_mask=mask, next_pos=next_pos + block.sum(dim=1), h=h)

