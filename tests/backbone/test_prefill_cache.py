"""Shared prefill: equal prompts prefilled once, prompts and image features cached, every cache bounded in bytes.

The shared path must give what the plain batched prefill gives: the same greedy tokens exactly, the same states up
to float rounding (rows computed in another batch differ in the last bits).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pytest
import torch
from PIL import Image

from lam_envs.backbone import Backbone, Context
from lam_envs.backbone.cache import BoundedCache, PromptRow, image_key, tensor_bytes



def random_image(seed: int, size: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))

STEPS = 6


@pytest.fixture
def cold(backbone: Backbone) -> Iterator[Backbone]:
    """The backbone with fresh, empty caches of the default bounds (its own put back afterwards)."""
    saved = backbone.prompt_cache, backbone.image_cache
    backbone.prompt_cache = BoundedCache(saved[0].max_bytes, saved[0].name)
    backbone.image_cache = BoundedCache(saved[1].max_bytes, saved[1].name)
    yield backbone
    backbone.prompt_cache, backbone.image_cache = saved


def greedy_rollout(backbone: Backbone, contexts: list[Context], share: bool) -> tuple[list[torch.Tensor], list]:
    """Greedy tokens and states of ``STEPS`` steps after a prefill (shared or not)."""
    state = backbone.prefill(contexts, share=share)
    states, tokens = [state.h.float()], []
    for _ in range(STEPS):
        token = backbone.lm_head(state.h).argmax(-1)
        tokens.append(token)
        states.append(backbone.step(state, token).float())
    return tokens, states


def assert_same_rollout(backbone: Backbone, contexts: list[Context]) -> None:
    tokens, states = greedy_rollout(backbone, contexts, share=True)
    ref_tokens, ref_states = greedy_rollout(backbone, contexts, share=False)
    for got, want in zip(tokens, ref_tokens):
        assert torch.equal(got, want)
    for got, want in zip(states, ref_states):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def group_contexts(backbone: Backbone) -> list[Context]:
    """Two prompts in groups of 3, interleaved with a text-only row (GRPO rows pinned to prompts)."""
    a = Context(random_image(0, backbone.image_size), [("user", "What colour is the circle?")])
    b = Context(random_image(1, backbone.image_size), [("system", "Be brief."), ("user", "Describe the picture.")])
    c = Context(None, [("user", "hello there")])
    return [a, a, b, a, c, b, b]


def test_groups_are_prefilled_once_and_match_the_plain_prefill(cold: Backbone) -> None:
    cold.prompt_cache.max_bytes = 0  # groups alone: nothing kept between calls
    assert_same_rollout(cold, group_contexts(cold))
    state = cold.prefill(group_contexts(cold))
    plain = cold.prefill(group_contexts(cold), share=False)
    assert torch.equal(state.attention_mask, plain.attention_mask)
    assert torch.equal(state.next_pos, plain.next_pos)
    assert state.length == plain.length
    assert state.h.requires_grad is False and not state.h.is_inference()


def test_group_rows_are_copies(cold: Backbone) -> None:
    """Rows of a group share a prefill but not storage: stepping them apart keeps them apart."""
    a = Context(None, [("user", "hello there")])
    state = cold.prefill([a, a])
    tokens = torch.tensor([3, 5], device=cold.device)
    h = cold.step(state, tokens)
    for row in range(2):
        alone = cold.prefill([a], share=False)
        torch.testing.assert_close(h[row].float(), cold.step(alone, tokens[row : row + 1])[0].float(),
                                   rtol=1e-4, atol=1e-5)
    assert not torch.allclose(h[0], h[1])


def test_repeated_prompts_come_from_the_cache(cold: Backbone) -> None:
    contexts = group_contexts(cold)
    first = cold.prefill(contexts)
    assert len(cold.prompt_cache) == 3 and cold.prompt_cache.hits == 0
    # New Context and image objects with the same content: keyed by content, so all hits.
    again = [Context(None if c.image is None else c.image.copy(), list(c.messages)) for c in contexts]
    second = cold.prefill(again)
    assert cold.prompt_cache.hits == 3
    assert torch.equal(first.h, second.h)
    for a, b in zip(first.cache.layers, second.cache.layers):
        assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)
    assert_same_rollout(cold, again)


def test_repeated_images_reuse_their_features(cold: Backbone) -> None:
    """Same image, other questions (a later turn, another question about it): the vision tower runs once."""
    cold.prompt_cache.max_bytes = 0
    image = random_image(7, cold.image_size)
    first = [Context(image, [("user", "What colour is the circle?")])]
    cold.prefill(first)
    assert len(cold.image_cache) == 1 and cold.image_cache.hits == 0
    later = [Context(image.copy(), [("user", q)]) for q in ("Where is it?", "Is it big?")]
    later.append(Context(random_image(8, cold.image_size), [("user", "Where is it?")]))
    assert_same_rollout(cold, later)
    # One look-up per distinct image per call: image 7 is a hit for both rows, image 8 a miss.
    assert (cold.image_cache.hits, cold.image_cache.misses, len(cold.image_cache)) == (1, 2, 2)


def test_suffix_rows_are_shared_but_not_stored(cold: Backbone) -> None:
    a = Context(None, [("user", "hello there")])
    suffix = cold.tokenizer("the end", add_special_tokens=False)["input_ids"]
    state = cold.prefill([a, a], suffixes=[suffix, suffix])
    plain = cold.prefill([a, a], suffixes=[suffix, suffix], share=False)
    torch.testing.assert_close(state.h.float(), plain.h.float(), rtol=1e-4, atol=1e-5)
    assert len(cold.prompt_cache) == 0


def test_replace_rows_shares_too(cold: Backbone) -> None:
    contexts = group_contexts(cold)
    new = [contexts[2], contexts[2]]
    shared = cold.prefill(contexts)
    plain = cold.prefill(contexts, share=False)
    cold.replace_rows(shared, [0, 4], new)
    cold.replace_rows(plain, [0, 4], new, share=False)
    torch.testing.assert_close(shared.h.float(), plain.h.float(), rtol=1e-4, atol=1e-5)
    assert torch.equal(shared.attention_mask.sum(-1), plain.attention_mask.sum(-1))
    token = cold.lm_head(shared.h).argmax(-1)
    assert torch.equal(token, cold.lm_head(plain.h).argmax(-1))
    torch.testing.assert_close(cold.step(shared, token).float(), cold.step(plain, token).float(),
                               rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------------ memory bounds
def test_backbone_caches_stay_within_their_bounds(cold: Backbone) -> None:
    contexts = [Context(random_image(i, cold.image_size), [("user", f"question {i}")]) for i in range(6)]
    cold.prefill(contexts[:1])
    one_prompt, one_image = cold.prompt_cache.nbytes, cold.image_cache.nbytes
    assert one_prompt > 0 and one_image > 0
    cold.prompt_cache.clear()
    cold.image_cache.clear()
    cold.prompt_cache.max_bytes = int(2.5 * one_prompt)
    cold.image_cache.max_bytes = 3 * one_image
    for i in range(len(contexts)):
        cold.prefill(contexts[i : i + 2])
        assert cold.prompt_cache.nbytes <= cold.prompt_cache.max_bytes
        assert cold.image_cache.nbytes <= cold.image_cache.max_bytes
    assert len(cold.prompt_cache) <= 2 and len(cold.image_cache) == 3
    # The newest survive (least recently used go first).
    assert image_key(contexts[-1].image) in cold.image_cache


def test_bounded_cache_evicts_least_recently_used() -> None:
    cache: BoundedCache[torch.Tensor] = BoundedCache(max_bytes=3 * 16, name="test")
    for key in "abc":
        assert cache.put(key, torch.zeros(4))  # 16 bytes each
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", torch.zeros(4))
    assert "b" not in cache and {"a", "c", "d"} <= set(cache._items)
    assert cache.nbytes == 48 == cache.max_bytes
    assert not cache.put("huge", torch.zeros(13))  # over the whole bound: not stored, nothing evicted
    assert len(cache) == 3
    cache.put("c", torch.zeros(2))  # replacing an entry frees its old bytes
    assert cache.nbytes == 40
    assert cache.stats() == {"entries": 3, "bytes": 40, "max_bytes": 48, "hits": 1, "misses": 0}
    off: BoundedCache[torch.Tensor] = BoundedCache(0)
    assert not off.put("a", torch.zeros(1)) and len(off) == 0
    with pytest.raises(ValueError, match="max_bytes"):
        BoundedCache(-1)


def test_tensor_bytes_counts_prompt_rows() -> None:
    row = PromptRow([torch.zeros(1, 2, 3, 4)], [torch.zeros(1, 2, 3, 4)], torch.zeros(1, dtype=torch.long),
                    torch.zeros(1, 8))
    assert tensor_bytes(row) == 2 * 24 * 4 + 8 + 32
    assert row.length == 3
