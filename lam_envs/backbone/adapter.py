"""The frozen VLM backbone: the only code in lam-gym that loads or runs a vision-language model.

``Backbone`` turns conversations into context embeddings ``h`` (the last layer's final-normed hidden state) and
advances them one token at a time with a KV cache, for B rows at once:

    backbone = Backbone(BackboneConfig(path="ckpt"))
    state = backbone.prefill([Context(image, [("user", "What colour is it?")]), ...])
    tokens = backbone.lm_head(state.h).argmax(-1)
    h = backbone.step(state, tokens)                     # one token per row
    backbone.replace_rows(state, [2], [new_context])     # row 2 finished: start a new conversation there

Prefill is shared (``share=True``, the default): rows with the same prompt (a GRPO group) are prefilled once and
get copies of its KV rows, a prompt seen before is taken from :attr:`Backbone.prompt_cache`, and an image's vision
features from :attr:`Backbone.image_cache`. Both caches are LRUs bounded in bytes (see
:mod:`lam_envs.backbone.cache`; set ``max_bytes`` on them, 0 turns one off). Shared and unshared prefills give the
same states up to float rounding (the rows were computed in other batches), hence the same greedy tokens.

Frozen for real: ``eval()``, ``requires_grad_(False)`` on every parameter, and every trunk call runs under
``torch.inference_mode()``. The read-out (``lm_head``, ``final_norm``) stays differentiable with respect to its
*input*, so a trainable head placed before it (the latent world model) receives gradients, while the backbone's own
parameters never do. ``step`` makes no host-device synchronisation: positions and masks stay on the device.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import torch
from torch import nn
from transformers import DynamicCache

from lam_envs.backbone.cache import (
    DEFAULT_IMAGE_CACHE_BYTES,
    DEFAULT_PROMPT_CACHE_BYTES,
    BoundedCache,
    PromptRow,
    image_key,
)
from lam_envs.backbone.config import BackboneConfig, BackboneConfigError
from lam_envs.backbone.inputs import Context, continuation_text, encode_context
from lam_envs.backbone.loading import DTYPES, cache_keyword, load_checkpoint
from lam_envs.backbone.state import DecodeState, dynamic_layers, left_pad, relaid_rows, splice_rows

logger = logging.getLogger(__name__)

class Backbone:
    """A frozen Hugging Face VLM driven for batched incremental decoding.

    Args:
        config: Where the checkpoint is and how to run it.

    Raises:
        BackboneConfigError: for a missing directory, an unsupported model type or an unusable tokenizer.
    """

    def __init__(self, config: BackboneConfig) -> None:
        self.config = config
        self._family_name = config.resolved_family()
        self.model, self.family, self.tokenizer = load_checkpoint(config)
        self._text_model = self.family.text_model
        self._cache_kw = cache_keyword(self._text_model)
        self._embed = self.model.get_input_embeddings()
        self._lm_head: nn.Module = self.model.get_output_embeddings()
        text_config = self._text_model.config
        layer_types = set(getattr(text_config, "layer_types", None) or ["full_attention"])
        if layer_types != {"full_attention"}:
            raise BackboneConfigError(
                f"{config.path} uses attention layer types {sorted(layer_types)}; only full attention is supported "
                "(sliding-window caches cannot be spliced row by row); disable use_sliding_window in config.json"
            )
        self.device = torch.device(config.device)
        self.dtype = DTYPES[config.dtype]
        self.pad_token_id: int = self._resolve_pad_id()
        self.eos_token_id: int = self._resolve_eos_id()
        self.image_cache: BoundedCache[tuple[torch.Tensor, dict[str, torch.Tensor]]] = BoundedCache(
            DEFAULT_IMAGE_CACHE_BYTES, "image features")
        """Vision features (and per-image position inputs) by image content; bounded (``max_bytes``)."""
        self.prompt_cache: BoundedCache[PromptRow] = BoundedCache(DEFAULT_PROMPT_CACHE_BYTES, "prompt states")
        """Prefilled prompt rows by token ids and image content; bounded (``max_bytes``)."""
        logger.info(
            "loaded %s backbone from %s: d=%d, vocab=%d, %d image tokens of %dx%d px, %s on %s",
            self.family_name, config.path, self.hidden_size, self.vocab_size, self.family.num_image_tokens,
            self.family.image_size, self.family.image_size, config.dtype, config.device,
        )

    # ----------------------------------------------------------------------------------------------- properties
    @property
    def family_name(self) -> str:
        """The adapter family, e.g. ``"qwen2_5_vl"``."""
        return self._family_name

    @property
    def hidden_size(self) -> int:
        """Width d of the context embedding."""
        return int(self._text_model.config.hidden_size)

    @property
    def vocab_size(self) -> int:
        """Number of LM-head outputs V (may exceed ``len(tokenizer)`` in real checkpoints)."""
        return int(self._lm_head.out_features)

    @property
    def final_norm(self) -> nn.Module:
        """The text model's final norm (frozen; differentiable with respect to its input)."""
        return self._text_model.norm

    @property
    def image_size(self) -> int:
        """Square side every image is resized to."""
        return self.family.image_size

    @property
    def num_image_tokens(self) -> int:
        """Placeholder tokens (image features) per image."""
        return self.family.num_image_tokens

    def _resolve_pad_id(self) -> int:
        if self.tokenizer.pad_token_id is not None:
            return int(self.tokenizer.pad_token_id)
        if self.tokenizer.eos_token_id is not None:
            return int(self.tokenizer.eos_token_id)  # never attended to: the attention mask hides padding
        raise BackboneConfigError(f"the tokenizer in {self.config.path} has neither a pad nor an eos token")

    def _resolve_eos_id(self) -> int:
        if self.tokenizer.eos_token_id is not None:
            return int(self.tokenizer.eos_token_id)
        eos = self.model.generation_config.eos_token_id or self.model.config.get_text_config().eos_token_id
        if eos is None:
            raise BackboneConfigError(f"{self.config.path} names no eos token in its tokenizer or config")
        return int(eos[0] if isinstance(eos, (list, tuple)) else eos)

    # ----------------------------------------------------------------------------------------------- read-out
    def lm_head(self, h: torch.Tensor) -> torch.Tensor:
        """Next-token logits from context embeddings.

        Args:
            h: (B, d) final-normed hidden states (or any (..., d) tensor).

        Returns:
            (B, V) logits, float32. Differentiable with respect to ``h`` when ``h`` requires grad.
        """
        if h.requires_grad and torch.is_grad_enabled():
            return self._lm_head(h.to(self.dtype)).float()
        with torch.inference_mode():
            logits = self._lm_head(h.to(self.dtype)).float()
        return logits.clone()

    def decode(self, ids: Sequence[int] | torch.Tensor, skip_special_tokens: bool = True) -> str:
        """Turn token ids (a list or a 1-D tensor) into text."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    # ----------------------------------------------------------------------------------------------- encoding
    def encode(self, context: Context) -> list[int]:
        """Prompt token ids of one context, image placeholders expanded."""
        return encode_context(
            context, self.tokenizer, self.family.image_marker, self.family.image_token_id, self.family.num_image_tokens
        )

    def continuation_ids(self, before: Context, after: Context, reply_ids: Sequence[int]) -> list[int]:
        """The token ids that take the prompt of ``before`` plus the agent's reply ``reply_ids`` to the prompt of
        ``after``: the same conversation one exchange later (the reply as an assistant turn, then the next user
        turns). What :meth:`extend` appends in a dialogue episode.

        Raises:
            ValueError: if ``after`` does not continue ``before`` with an assistant turn, or the chat template
                rewrites earlier turns (the prompt of ``after`` does not start with that of ``before`` and the reply).
        """
        text = continuation_text(before, after, self.tokenizer, self.family.image_marker)
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if self.family.image_token_id in ids:
            raise ValueError("a later turn holds image placeholder text; remove it from the dialogue")
        if reply_ids and int(reply_ids[-1]) == self.eos_token_id and ids and ids[0] == self.eos_token_id:
            ids = ids[1:]  # the reply's own EOS already closed the assistant turn
        return ids

    def _check_length(self, length: int) -> None:
        if length > self.config.max_context_tokens:
            raise ValueError(
                f"a decode state would reach {length} tokens, over max_context_tokens="
                f"{self.config.max_context_tokens}; shorten the dialogue or raise BackboneConfig.max_context_tokens"
            )

    def _image_inputs(
        self, images: list[Any], keys: Sequence[str | None] | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Vision features of ``images`` (concatenated in order) and the pixel inputs the positions need.

        With ``keys`` (one content key per image), features come from :attr:`image_cache` where present and the
        others are computed in one vision-tower call and stored; without, all are computed.
        """
        def compute(batch: list[Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            pixels = {k: v.to(self.device) for k, v in self.family.pixel_inputs(batch).items()}
            pixels["pixel_values"] = pixels["pixel_values"].to(self.dtype)
            return self.family.image_features(pixels), pixels

        if keys is None or self.image_cache.max_bytes == 0:
            return compute(images)
        found: dict[str, tuple[torch.Tensor, dict[str, torch.Tensor]]] = {}
        for key in dict.fromkeys(keys):
            hit = self.image_cache.get(key)
            if hit is not None:
                found[key] = hit
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        if missing:
            first = {k: keys.index(k) for k in missing}
            features, pixels = compute([images[first[k]] for k in missing])
            per_image = self.family.num_image_tokens
            for j, key in enumerate(missing):
                # Per-image inputs besides the pixels (Qwen2.5-VL's image_grid_thw) are one row per image.
                extra = {n: v[j : j + 1].clone() for n, v in pixels.items() if n != "pixel_values"}
                found[key] = (features[j * per_image : (j + 1) * per_image].clone(), extra)
                self.image_cache.put(key, found[key])
        ordered = [found[k] for k in keys]  # type: ignore[index]
        features = torch.cat([f for f, _ in ordered])
        names = ordered[0][1].keys()
        return features, {n: torch.cat([extra[n] for _, extra in ordered]) for n in names}

    def _trunk(
        self,
        rows: Sequence[list[int]],
        contexts: Sequence[Context],
        cache: DynamicCache | None,
        image_keys: Sequence[str | None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One trunk forward over token rows, left-padded into a batch, with the contexts' images spliced in.

        Args:
            rows: Token ids per row (image placeholders already expanded).
            contexts: The rows' contexts (their images, in row order).
            cache: A cache to fill (prefill), or ``None`` for a forward without one.
            image_keys: The contexts' image content keys (``None`` for a text-only row) to look image features
                up in :attr:`image_cache`; ``None``: compute every image's features.

        Returns:
            ``(last_hidden_state (B, L, d), attention_mask (B, L), next_pos (B,))``.
        """
        length = max(len(x) for x in rows)
        self._check_length(length)
        input_ids = torch.full((len(rows), length), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), length), dtype=torch.long)
        for row, x in enumerate(rows):
            input_ids[row, length - len(x) :] = torch.tensor(x, dtype=torch.long)
            attention_mask[row, length - len(x) :] = 1
        images = [c.image for c in contexts if c.image is not None]
        keys = None if image_keys is None else [k for c, k in zip(contexts, image_keys) if c.image is not None]
        pixels = None
        input_ids, attention_mask = input_ids.to(self.device), attention_mask.to(self.device)
        with torch.inference_mode():
            embeds = self._embed(input_ids)
            if images:
                features, pixels = self._image_inputs(images, keys)
                embeds = embeds.masked_scatter(
                    (input_ids == self.family.image_token_id).unsqueeze(-1), features.to(embeds.dtype))
            position_ids, next_pos = self.family.prefill_positions(input_ids, attention_mask, pixels)
            out = self._text_model(
                inputs_embeds=embeds,
                attention_mask=attention_mask,
                position_ids=position_ids,
                use_cache=cache is not None,
                **{self._cache_kw: cache},
            )
        return out.last_hidden_state, attention_mask, next_pos

    def prefill(
        self,
        contexts: Sequence[Context],
        suffixes: Sequence[Sequence[int]] | None = None,
        *,
        share: bool = True,
    ) -> DecodeState:
        """Encode B contexts as one left-padded batch and cache their keys and values.

        Args:
            contexts: The conversations, one per row (rows may mix image and text-only contexts).
            suffixes: Token ids already generated after each row's prompt (a reply in progress, e.g. when a run
                resumes from a checkpoint); the state then equals prefill + one :meth:`step` per suffix token, up to
                float rounding. ``None``: no suffixes.
            share: Prefill each distinct row once (rows with equal tokens and image share its KV rows), take
                prompts and image features seen before from :attr:`prompt_cache` and :attr:`image_cache`, and store
                new ones (rows with suffixes are not stored). ``False``: one trunk forward over all B rows, no cache.

        Returns:
            The decode state; ``state.h`` holds each row's context embedding at its last token.
        """
        if not contexts:
            raise ValueError("prefill needs at least one context")
        if suffixes is not None and len(suffixes) != len(contexts):
            raise ValueError(f"got {len(suffixes)} suffixes for {len(contexts)} contexts; pass one per context")
        rows = [self.encode(c) for c in contexts]
        if suffixes is not None:
            rows = [r + [int(t) for t in s] for r, s in zip(rows, suffixes)]
        if not share:
            return self._prefill_batch(rows, contexts)
        image_keys = [None if c.image is None else image_key(c.image) for c in contexts]
        keys = [(tuple(r), k) for r, k in zip(rows, image_keys)]
        first: dict[tuple[Any, ...], int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        store = suffixes is None and self.prompt_cache.max_bytes > 0
        entries: dict[tuple[Any, ...], PromptRow] = {}
        if store:
            for key in first:
                hit = self.prompt_cache.get(key)
                if hit is not None:
                    entries[key] = hit
        missing = [key for key in first if key not in entries]
        if missing:
            picks = [first[k] for k in missing]
            fresh = self._prefill_batch([rows[i] for i in picks], [contexts[i] for i in picks],
                                        [image_keys[i] for i in picks])
            for j, (key, i) in enumerate(zip(missing, picks)):
                entries[key] = PromptRow.of(fresh, j, len(rows[i]))
                if store:
                    self.prompt_cache.put(key, entries[key])
        distinct = list(first)
        position = {key: j for j, key in enumerate(distinct)}
        return self._stack([entries[k] for k in distinct], [position[k] for k in keys])

    def _prefill_batch(
        self, rows: list[list[int]], contexts: Sequence[Context], image_keys: Sequence[str | None] | None = None
    ) -> DecodeState:
        cache = DynamicCache(config=self._text_model.config)
        hidden, attention_mask, next_pos = self._trunk(rows, contexts, cache, image_keys)
        h = hidden[:, -1]
        return DecodeState(cache=cache, attention_mask=attention_mask, next_pos=next_pos, h=h.clone())

    def _stack(self, entries: list[PromptRow], order: list[int]) -> DecodeState:
        """A left-padded batch whose row i is ``entries[order[i]]`` (copies: rows never alias each other)."""
        length = max(e.length for e in entries)
        index = torch.tensor(order, dtype=torch.long, device=self.device)
        cache = DynamicCache(config=self._text_model.config)
        with torch.inference_mode():
            for layer in range(len(entries[0].keys)):
                keys = torch.cat([left_pad(e.keys[layer], length, dim=2) for e in entries]).index_select(0, index)
                values = torch.cat([left_pad(e.values[layer], length, dim=2) for e in entries]).index_select(0, index)
                cache.update(keys, values, layer)
            next_pos = torch.cat([e.next_pos for e in entries]).index_select(0, index)
            h = torch.cat([e.h for e in entries]).index_select(0, index)
        mask = torch.zeros((len(order), length), dtype=torch.long)
        for row, j in enumerate(order):
            mask[row, length - entries[j].length :] = 1
        return DecodeState(cache=cache, attention_mask=mask.to(self.device), next_pos=next_pos, h=h.clone())

    def hidden_states(
        self, contexts: Sequence[Context], answers: Sequence[str], max_answer_tokens: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced context embeddings along each answer, in one full forward (for training latent heads).

        Each row is its prompt followed by its answer's tokens and EOS; the trunk runs once over the left-padded batch
        under ``inference_mode``, giving the same states as :meth:`prefill` followed by one :meth:`step` per answer
        token.

        Args:
            contexts: The conversations, one per row.
            answers: The answer text of each row (EOS is appended).
            max_answer_tokens: Cut each row's targets (answer + EOS) to this many tokens; ``None`` keeps all.

        Returns:
            ``(h, targets, mask)``: ``h`` (B, T + 1, d) final-normed states, where ``h[:, 0]`` is the state at the last
            prompt token and ``h[:, j]`` the state after the j-th target; ``targets`` (B, T) long target ids (the
            pad id past a row's end); ``mask`` (B, T) bool, True on real targets. Rows are right-padded (``h`` with
            zeros) to the longest row's T.
        """
        if len(contexts) != len(answers):
            raise ValueError(f"got {len(contexts)} contexts but {len(answers)} answers; pass one answer per context")
        if not contexts:
            raise ValueError("hidden_states needs at least one context")
        if max_answer_tokens is not None and max_answer_tokens <= 0:
            raise ValueError(f"max_answer_tokens={max_answer_tokens} must be positive or None")
        prompts = [self.encode(c) for c in contexts]
        targets = [self.tokenizer(a, add_special_tokens=False)["input_ids"] + [self.eos_token_id] for a in answers]
        if max_answer_tokens is not None:
            targets = [t[:max_answer_tokens] for t in targets]
        rows = [p + t for p, t in zip(prompts, targets)]
        length = max(len(r) for r in rows)
        full, _, _ = self._trunk(rows, contexts, cache=None)
        longest = max(len(t) for t in targets)
        h = full.new_zeros((len(rows), longest + 1, full.shape[-1]))
        target = torch.full((len(rows), longest), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), longest), dtype=torch.bool)
        for row, t in enumerate(targets):
            # Left padding puts every row's end at the last column: its answer span is the last len(t) + 1 states.
            h[row, : len(t) + 1] = full[row, length - len(t) - 1 :]
            target[row, : len(t)] = torch.tensor(t, dtype=torch.long)
            mask[row, : len(t)] = True
        return h.clone(), target.to(self.device), mask.to(self.device)

    # ----------------------------------------------------------------------------------------------- decoding
    def _query_mask(self, attention_mask: torch.Tensor, m: int = 1) -> torch.Tensor:
        # A ready 4-D mask for the last m columns as queries: transformers then skips its own mask building, which
        # checks `mask.all()` on the host (a device sync per token). Key column j is visible to query q if it holds
        # one of the row's tokens and is not in q's future.
        length = attention_mask.shape[1]
        visible = attention_mask.bool()[:, None, None, :]
        if m > 1:
            columns = torch.arange(length, device=attention_mask.device)
            queries = torch.arange(length - m, length, device=attention_mask.device)
            visible = visible & (columns[None, :] <= queries[:, None])[None, None]
        if self.config.attn_implementation == "sdpa":
            return visible
        zero = torch.zeros((), dtype=self.dtype, device=visible.device)
        return torch.where(visible, zero, torch.finfo(self.dtype).min)

    def step(self, state: DecodeState, tokens: torch.Tensor) -> torch.Tensor:
        """Append one token per row and advance the cache.

        Args:
            state: The batch's decode state (updated in place).
            tokens: (B,) long token ids, on the backbone's device.

        Returns:
            (B, d) context embeddings after the new tokens (also stored in ``state.h``).
        """
        if tokens.shape != (state.batch_size,):
            raise ValueError(f"tokens has shape {tuple(tokens.shape)}; expected ({state.batch_size},), one per row")
        self._check_length(state.length + 1)
        with torch.inference_mode():
            embeds = self._embed(tokens.view(-1, 1))
            ones = state.attention_mask.new_ones((state.batch_size, 1))
            state.attention_mask = torch.cat([state.attention_mask, ones], dim=1)
            out = self._text_model(
                inputs_embeds=embeds,
                attention_mask=self._query_mask(state.attention_mask),
                position_ids=self.family.step_positions(state.next_pos),
                use_cache=True,
                **{self._cache_kw: state.cache},
            )
            state.next_pos = state.next_pos + 1
            h = out.last_hidden_state[:, -1]
        state.h = h.clone()
        return state.h

    def replace_rows(
        self, state: DecodeState, rows: Sequence[int], contexts: Sequence[Context], *, share: bool = True
    ) -> DecodeState:
        """Start new conversations in some rows without touching the others (vector-env autoreset).

        The new contexts are prefilled on their own and their keys, values, mask and positions are spliced into the
        batch, so each replaced row continues exactly as it would in a batch of its own.

        Args:
            state: The batch's decode state (updated in place).
            rows: Distinct row indices to replace.
            contexts: One new context per index in ``rows``.
            share: Share the prefill of equal contexts and use the caches (see :meth:`prefill`).

        Returns:
            ``state``, for chaining; ``state.h[rows]`` holds the new rows' context embeddings.
        """
        rows = _checked_rows(state, rows, len(contexts), "contexts", "context")
        if not rows:
            return state
        fresh = self.prefill(contexts, share=share)
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        with torch.inference_mode():
            splice_rows(state, index, fresh)
        state.h = state.h.index_copy(0, index, fresh.h)
        return state


    def extend(self, state: DecodeState, rows: Sequence[int], tokens: Sequence[Sequence[int]]) -> DecodeState:
        """Append several tokens to some rows (a dialogue's next user turn) without touching the others.

        Only the new tokens go through the trunk, attending to each row's cached keys: a row then equals a prefill of
        its whole history (``prefill(context, suffixes=...)``) up to float rounding, and its history is never
        encoded again. The extended rows are re-laid (their own columns, then the new ones) and spliced back like
        :meth:`replace_rows`, so every row's tokens stay contiguous and the cache holds no dead columns.

        Args:
            state: The batch's decode state (updated in place).
            rows: Distinct row indices to extend.
            tokens: One non-empty list of token ids per index in ``rows``.

        Returns:
            ``state``, for chaining; ``state.h[rows]`` holds the context embeddings after the new tokens.
        """
        rows = _checked_rows(state, rows, len(tokens), "token lists", "list")
        if not rows:
            return state
        if any(len(t) == 0 for t in tokens):
            raise ValueError("every row needs at least one token to append")
        n, m = len(rows), max(len(t) for t in tokens)
        self._check_length(state.length + m)
        ids = torch.full((n, m), self.pad_token_id, dtype=torch.long)
        block = torch.zeros((n, m), dtype=torch.long)
        for i, t in enumerate(tokens):
            ids[i, m - len(t):] = torch.tensor([int(x) for x in t], dtype=torch.long)
            block[i, m - len(t):] = 1
        ids, block = ids.to(self.device), block.to(self.device)
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        with torch.inference_mode():
            layers = dynamic_layers(state.cache)
            sub = DynamicCache(config=self._text_model.config)
            for i, layer in enumerate(layers):
                sub.update(layer.keys.index_select(0, index), layer.values.index_select(0, index), i)
            history = state.attention_mask.index_select(0, index)
            visible = self._query_mask(torch.cat([history, block], dim=1), m)
            positions = state.next_pos.index_select(0, index)[:, None] + (block.cumsum(dim=1) - 1).clamp(min=0)
            out = self._text_model(
                inputs_embeds=self._embed(ids),
                attention_mask=visible,
                position_ids=self.family.text_positions(positions),
                use_cache=True,
                **{self._cache_kw: sub},
            )
            fresh = relaid_rows(sub, history, block, state.next_pos.index_select(0, index), out.last_hidden_state[:, -1],
                                DynamicCache(config=self._text_model.config))
            splice_rows(state, index, fresh)
        state.h = state.h.index_copy(0, index, fresh.h.clone())
        return state


def _checked_rows(state: DecodeState, rows: Sequence[int], given: int, what: str, one: str) -> list[int]:
    """``rows`` as a list, checked: one of ``given`` items each, distinct, inside the batch."""
    rows = list(rows)
    if len(rows) != given:
        raise ValueError(f"got {len(rows)} rows but {given} {what}; pass one {one} per row")
    if len(set(rows)) != len(rows) or not all(0 <= r < state.batch_size for r in rows):
        raise ValueError(f"rows={rows} must be distinct indices in [0, {state.batch_size})")
    return rows
