"""Greedy batched replies from a backbone alone (the base VLM's own behaviour, the reference point for quality)."""

from __future__ import annotations

from typing import Sequence

import torch

from lam_envs.backbone.adapter import Backbone
from lam_envs.backbone.inputs import Context


def greedy_token_ids(
    backbone: Backbone, contexts: Sequence[Context], max_new_tokens: int, batch_size: int = 64
) -> list[list[int]]:
    """Decode greedily for each context, in batches, until EOS or ``max_new_tokens``.

    The envs' decode engine (:func:`lam_envs.envs.engine.write_replies`) under the LM head's argmax policy, i.e. a
    token env's greedy episode.

    Returns:
        One list of generated token ids per context, EOS excluded.
    """
    from lam_envs.envs.engine import lm_head_argmax, write_context_replies  # the envs build on the backbone

    return write_context_replies(backbone, contexts, lm_head_argmax, max_new_tokens, batch_size=batch_size)


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
