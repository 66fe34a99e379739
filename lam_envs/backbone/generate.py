"""Greedy batched replies from a backbone alone (the base VLM's own behaviour, the reference point for quality)."""

from __future__ import annotations

from typing import Sequence

import torch

from lam_envs.backbone.adapter import Backbone
from lam_envs.backbone.inputs import Context

_DONE_CHECK_EVERY = 8  # tokens between host syncs that check whether every row has finished


def greedy_token_ids(
    backbone: Backbone, contexts: Sequence[Context], max_new_tokens: int, batch_size: int = 64
) -> list[list[int]]:
    """Decode greedily for each context, in batches, until EOS or ``max_new_tokens``.

    Returns:
        One list of generated token ids per context, EOS excluded.
    """
    out: list[list[int]] = []
    for start in range(0, len(contexts), batch_size):
        chunk = contexts[start : start + batch_size]
        state = backbone.prefill(chunk)
        done = torch.zeros(len(chunk), dtype=torch.bool, device=backbone.device)
        steps = []
        for t in range(max_new_tokens):
            token = backbone.lm_head(state.h).argmax(-1)
            token = torch.where(done, torch.full_like(token, backbone.eos_token_id), token)
            steps.append(token)
            done = done | (token == backbone.eos_token_id)
            if (t + 1) % _DONE_CHECK_EVERY == 0 and bool(done.all()):
                break
            if t + 1 < max_new_tokens:
                backbone.step(state, token)
        ids = torch.stack(steps, dim=1).tolist()
        for row in ids:
            out.append(row[: row.index(backbone.eos_token_id)] if backbone.eos_token_id in row else row)
    return out


def greedy_replies(
    backbone: Backbone, contexts: Sequence[Context], max_new_tokens: int = 64, batch_size: int = 64
) -> list[str]:
    """Greedy reply texts (special tokens removed), one per context."""
    return [backbone.decode(ids).strip() for ids in greedy_token_ids(backbone, contexts, max_new_tokens, batch_size)]


def answer_log_likelihood(
    backbone: Backbone, contexts: Sequence[Context], answers: Sequence[str], batch_size: int = 64
) -> tuple[float, int]:
    """Teacher-forced log-likelihood of each answer (plus its EOS) given its context, summed over all answers.

    Uses only prefill, step and the LM head, i.e. the same path the environments decode with.

    Returns:
        ``(total log-likelihood in nats, number of predicted tokens)``; perplexity is ``exp(-total / count)``.
    """
    if len(contexts) != len(answers):
        raise ValueError(f"got {len(contexts)} contexts but {len(answers)} answers")
    total, count = 0.0, 0
    tok = backbone.tokenizer
    for start in range(0, len(contexts), batch_size):
        chunk = list(range(start, min(start + batch_size, len(contexts))))
        targets = [tok(answers[i], add_special_tokens=False)["input_ids"] + [backbone.eos_token_id] for i in chunk]
        length = max(len(t) for t in targets)
        target = torch.full((len(chunk), length), backbone.pad_token_id, dtype=torch.long)
        valid = torch.zeros((len(chunk), length), dtype=torch.bool)
        for row, t in enumerate(targets):
            target[row, : len(t)] = torch.tensor(t)
            valid[row, : len(t)] = True
        target, valid = target.to(backbone.device), valid.to(backbone.device)
        state = backbone.prefill([contexts[i] for i in chunk])
        for t in range(length):
            logp = torch.log_softmax(backbone.lm_head(state.h), dim=-1)
            picked = logp.gather(1, target[:, t : t + 1]).squeeze(1)
            total += float(picked[valid[:, t]].sum())
            if t + 1 < length:
                backbone.step(state, target[:, t])
        count += int(valid.sum())
    return total, count
