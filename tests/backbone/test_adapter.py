"""Backbone decoding: batched KV-cache steps agree with no-cache re-encoding, generate, and solo runs after splicing."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch
from PIL import Image

from lam_envs.backbone import Backbone, BackboneConfig, Context, DecodeState

STEPS = 6


def greedy(backbone: Backbone, state: DecodeState, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy-decode ``steps`` tokens for every row; return tokens (B, steps) and embeddings (B, steps, d)."""
    tokens, hs = [], []
    for _ in range(steps):
        hs.append(state.h)
        token = backbone.lm_head(state.h).argmax(-1)
        tokens.append(token)
        backbone.step(state, token)
    return torch.stack(tokens, 1), torch.stack(hs, 1)


def hf_inputs(backbone: Backbone, contexts: list[Context], ids: list[list[int]]) -> dict[str, torch.Tensor]:
    """Left-padded model inputs for transformers' own forward / generate (the reference path)."""
    length = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), length), backbone.pad_token_id)
    mask = torch.zeros((len(ids), length), dtype=torch.long)
    for row, x in enumerate(ids):
        input_ids[row, length - len(x) :] = torch.tensor(x)
        mask[row, length - len(x) :] = 1
    kwargs: dict[str, torch.Tensor] = {"input_ids": input_ids, "attention_mask": mask}
    images = [c.image for c in contexts if c.image is not None]
    if images:
        kwargs.update(backbone.family.pixel_inputs(images))
    if backbone.family_name == "qwen2_5_vl":
        kwargs["mm_token_type_ids"] = (input_ids == backbone.family.image_token_id).int()
    return kwargs


def reference_greedy(backbone: Backbone, context: Context, steps: int) -> list[int]:
    """Greedy tokens from re-encoding the whole sequence with transformers' forward, no cache, row alone."""
    prompt, out = backbone.encode(context), []
    for _ in range(steps):
        with torch.no_grad():
            logits = backbone.model(**hf_inputs(backbone, [context], [prompt + out]), use_cache=False).logits
        out.append(int(logits[0, -1].argmax()))
    return out


def test_round_trip_loads_family_sizes_and_tokens(backbone: Backbone) -> None:
    text_config = backbone.model.config.get_text_config()
    assert backbone.hidden_size == text_config.hidden_size
    assert backbone.vocab_size == text_config.vocab_size == len(backbone.tokenizer)
    assert backbone.eos_token_id == backbone.tokenizer.eos_token_id
    assert backbone.pad_token_id == backbone.tokenizer.pad_token_id != backbone.eos_token_id
    assert backbone.num_image_tokens == 16 if backbone.family_name == "llava" else 4
    assert backbone.decode(backbone.tokenizer("a red circle")["input_ids"]) == "a red circle"


def test_batched_cached_decoding_matches_no_cache_reencoding(backbone: Backbone, contexts: list[Context]) -> None:
    state = backbone.prefill(contexts)
    assert state.h.shape == (3, backbone.hidden_size)
    assert state.attention_mask.sum(1).tolist() == [len(backbone.encode(c)) for c in contexts]
    tokens, _ = greedy(backbone, state, STEPS)
    for row, context in enumerate(contexts):
        assert tokens[row].tolist() == reference_greedy(backbone, context, STEPS), f"row {row}"
    # The untrained model must not be degenerate, or equality above would prove little.
    assert len(set(tokens.flatten().tolist())) > STEPS


def test_batched_cached_decoding_matches_hf_generate(backbone: Backbone, contexts: list[Context]) -> None:
    tokens, _ = greedy(backbone, backbone.prefill(contexts), STEPS)
    inputs = hf_inputs(backbone, contexts, [backbone.encode(c) for c in contexts])
    generated = backbone.model.generate(**inputs, max_new_tokens=STEPS, do_sample=False)
    generated = generated[:, inputs["input_ids"].shape[1] :]
    for row in range(len(contexts)):
        ours = tokens[row].tolist()
        # generate pads after eos; compare up to and including the first eos.
        stop = ours.index(backbone.eos_token_id) + 1 if backbone.eos_token_id in ours else STEPS
        assert generated[row, :stop].tolist() == ours[:stop], f"row {row}"


def test_prefill_h_is_the_final_normed_last_hidden_state(backbone: Backbone, contexts: list[Context]) -> None:
    context = contexts[2]
    state = backbone.prefill([context])
    inputs = hf_inputs(backbone, [context], [backbone.encode(context)])
    with torch.no_grad():
        out = backbone.model(**inputs, use_cache=False, output_hidden_states=True)
    # transformers' last hidden state is taken before the final norm; the logits come from the normed one.
    torch.testing.assert_close(backbone.final_norm(out.hidden_states[-1][:, -1]), state.h, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(backbone.lm_head(state.h), out.logits[:, -1], atol=1e-4, rtol=1e-4)


def test_text_only_batch(backbone: Backbone) -> None:
    contexts = [Context(None, [("user", "hi")]), Context(None, [("system", "Be brief."), ("user", "tell me more")])]
    tokens, _ = greedy(backbone, backbone.prefill(contexts), STEPS)
    for row, context in enumerate(contexts):
        assert tokens[row].tolist() == reference_greedy(backbone, context, STEPS)


def test_image_changes_the_embedding(backbone: Backbone, noise_image: Callable[[int, int], Image.Image]) -> None:
    messages = [("user", "What colour is it?")]
    state = backbone.prefill(
        [Context(noise_image(5, backbone.image_size), messages), Context(noise_image(6, backbone.image_size), messages)]
    )
    assert not torch.allclose(state.h[0], state.h[1], atol=1e-3)


def test_replace_rows_decodes_like_a_solo_run(
    backbone: Backbone, contexts: list[Context], noise_image: Callable[[int, int], Image.Image]
) -> None:
    long_context = Context(
        noise_image(7, backbone.image_size),
        [("system", "You are a guide who talks a lot."), ("user", "Tell me everything about this picture, " * 6)],
    )
    short_context = Context(None, [("user", "yes")])
    state = backbone.prefill(contexts)
    greedy(backbone, state, 3)
    assert len(backbone.encode(long_context)) > state.length  # forces left-padding of the rows kept

    untouched = backbone.prefill(contexts)
    greedy(backbone, untouched, 3)
    backbone.replace_rows(state, [1, 2], [long_context, short_context])
    tokens, hs = greedy(backbone, state, STEPS)

    for row, context in ((1, long_context), (2, short_context)):
        solo_tokens, solo_hs = greedy(backbone, backbone.prefill([context]), STEPS)
        assert tokens[row].tolist() == solo_tokens[0].tolist(), f"replaced row {row}"
        torch.testing.assert_close(hs[row], solo_hs[0], atol=1e-4, rtol=1e-4)
    kept_tokens, kept_hs = greedy(backbone, untouched, STEPS)
    assert tokens[0].tolist() == kept_tokens[0].tolist()
    torch.testing.assert_close(hs[0], kept_hs[0], atol=1e-4, rtol=1e-4)


def test_replacing_every_row_trims_dead_columns(backbone: Backbone, contexts: list[Context]) -> None:
    state = backbone.prefill(contexts)
    greedy(backbone, state, 4)
    short = [Context(None, [("user", "no")])] * 3
    backbone.replace_rows(state, [0, 1, 2], short)
    assert state.length == len(backbone.encode(short[0]))
    assert bool(state.attention_mask.all())
    layer = state.cache.layers[0]
    assert layer.keys.shape[2] == state.length


def test_replace_rows_rejects_bad_rows(backbone: Backbone, contexts: list[Context]) -> None:
    state = backbone.prefill(contexts)
    with pytest.raises(ValueError, match="distinct indices"):
        backbone.replace_rows(state, [0, 0], contexts[:2])
    with pytest.raises(ValueError, match="distinct indices"):
        backbone.replace_rows(state, [3], contexts[:1])
    with pytest.raises(ValueError, match="one context per row"):
        backbone.replace_rows(state, [0, 1], contexts[:1])


def test_step_rejects_wrong_token_shape(backbone: Backbone, contexts: list[Context]) -> None:
    state = backbone.prefill(contexts)
    with pytest.raises(ValueError, match="one per row"):
        backbone.step(state, torch.zeros(2, dtype=torch.long))


def test_max_context_tokens_is_enforced(qwen_dir: Path) -> None:
    context = Context(None, [("user", "hi")])
    limit = len(Backbone(BackboneConfig(qwen_dir)).encode(context)) + 3
    backbone = Backbone(BackboneConfig(qwen_dir, max_context_tokens=limit))
    state = backbone.prefill([context])
    for _ in range(3):
        backbone.step(state, torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="max_context_tokens"):
        backbone.step(state, torch.zeros(1, dtype=torch.long))
    with pytest.raises(ValueError, match="max_context_tokens"):
        backbone.prefill([Context(None, [("user", "tell me more " * 10)])])


def test_step_makes_no_host_sync(backbone: Backbone, contexts: list[Context], monkeypatch: pytest.MonkeyPatch) -> None:
    state = backbone.prefill(contexts)
    token = backbone.lm_head(state.h).argmax(-1)

    def sync(*args: object, **kwargs: object) -> None:
        raise AssertionError("host-device sync inside step")

    # On CPU a sync is free, so catch the calls that would force one on a GPU.
    for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__"):
        monkeypatch.setattr(torch.Tensor, name, sync)
    backbone.step(state, token)
    backbone.step(state, token)
    monkeypatch.undo()
    assert state.h.shape == (3, backbone.hidden_size)


def test_every_parameter_is_frozen_and_untouched_by_decoding_and_optimizers(
    backbone: Backbone, contexts: list[Context]
) -> None:
    assert not backbone.model.training
    assert [name for name, p in backbone.model.named_parameters() if p.requires_grad] == []
    before = {name: p.detach().clone() for name, p in backbone.model.named_parameters()}

    state = backbone.prefill(contexts)
    greedy(backbone, state, 3)
    backbone.replace_rows(state, [0], contexts[:1])
    # A trainable head before the frozen read-out (as the latent world model is) gets gradients; the backbone not.
    head = torch.nn.Linear(backbone.hidden_size, backbone.hidden_size)
    optimizer = torch.optim.SGD(list(backbone.model.parameters()) + list(head.parameters()), lr=10.0)
    assert not state.h.is_inference()
    logits = backbone.lm_head(backbone.final_norm(head(state.h)))
    torch.nn.functional.cross_entropy(logits, torch.zeros(3, dtype=torch.long)).backward()
    optimizer.step()

    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in backbone.model.parameters())
    for name, p in backbone.model.named_parameters():
        assert torch.equal(p, before[name]), name


def test_bfloat16_plumbing(qwen_dir: Path) -> None:
    backbone = Backbone(BackboneConfig(qwen_dir, dtype="bfloat16"))
    assert {p.dtype for p in backbone.model.parameters()} == {torch.bfloat16}
    state = backbone.prefill([Context(None, [("user", "hi")]), Context(None, [("user", "what colour?")])])
    assert state.h.dtype == torch.bfloat16
    tokens, _ = greedy(backbone, state, 3)
    assert backbone.lm_head(state.h).dtype == torch.float32
    assert tokens.shape == (2, 3)
    assert bool((tokens >= 0).all()) and bool((tokens < backbone.vocab_size).all())


def test_eager_attention_matches_sdpa(llava_dir: Path, llava: Backbone) -> None:
    eager = Backbone(BackboneConfig(llava_dir, attn_implementation="eager"))
    contexts = [Context(None, [("user", "hi")]), Context(None, [("user", "a longer question about it")])]
    eager_tokens, eager_hs = greedy(eager, eager.prefill(contexts), STEPS)
    sdpa_tokens, sdpa_hs = greedy(llava, llava.prefill(contexts), STEPS)
    assert torch.equal(eager_tokens, sdpa_tokens)
    torch.testing.assert_close(eager_hs, sdpa_hs, atol=1e-4, rtol=1e-4)
