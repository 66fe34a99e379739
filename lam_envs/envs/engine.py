"""The one decode engine: runs a policy over a :class:`~lam_envs.envs.dynamics.ReplyBatch` until every row's reply ends.

No judge and no autoreset: this is how evaluation, ``lam chat`` and the latent and backbone reports write replies,
through the same token choice, masks and stopping rule as the envs' ``step``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from lam_envs.backbone import Backbone, Context
from lam_envs.envs.config import ActionKind, ConversationConfig
from lam_envs.envs.dynamics import ReplyBatch
from lam_envs.envs.setup import Setup
from lam_envs.latent.protocol import WorldModel

Policy = Callable[[ReplyBatch], Any]
"""Picks every row's next action: ``policy(batch) -> (B,) actions``, from ``batch.state.h`` (the context embeddings
on the backbone's device) or from the env's observations (see ``lam_envs.envs.vector.batch_observations``). A torch
tensor is taken as it is, anything else is checked like an env's actions (see :meth:`ReplyBatch.tokens_for`)."""

DONE_CHECK_EVERY = 8
"""Tokens between the host syncs of :func:`write_replies` that check whether every row has finished."""


def lm_head_argmax(batch: ReplyBatch) -> torch.Tensor:
    """The base VLM's greedy policy over tokens: ``lm_head(h_t).argmax()`` (token envs)."""
    assert batch.state is not None
    return batch.backbone.lm_head(batch.state.h).argmax(-1)


def prior_argmax(batch: ReplyBatch) -> torch.Tensor:
    """The policy prior's most likely code, ``prior_logits(h_t).argmax()`` (latent envs)."""
    assert batch.state is not None and batch.setup.world_model is not None
    return batch.setup.world_model.prior_logits(batch.state.h).argmax(-1)


@torch.no_grad()
def write_replies(batch: ReplyBatch, policy: Policy, *, observe: bool = False) -> list[list[int]]:
    """Write every row's reply with ``policy`` until each ends (EOS or ``max_reply_tokens``): the one decode loop.

    Tokens come from the actions exactly as in :meth:`ReplyBatch.step` (the world model's read-out, greedy or
    sampled from each row's generator), so a row answers as an env episode on the same sample and decode seed
    would; unlike ``step`` nothing is judged and no row restarts. A row that has finished emits EOS (its actions
    are ignored) until every row has.

    Args:
        batch: A started batch (:meth:`ReplyBatch.begin` or :meth:`ReplyBatch.begin_contexts`).
        policy: Picks the actions (see :data:`Policy`).
        observe: Keep ``batch.embeddings`` and ``batch.replies`` current at every step, for a policy that reads the
            env's observations (one host transfer per token). ``False`` (policies over ``batch.state.h``) checks
            for the end every :data:`DONE_CHECK_EVERY` tokens only and fills ``batch.replies`` at the end.

    Returns:
        Each row's reply token ids, EOS left out; ``batch.replies`` end with EOS where a reply did, as in an env.
    """
    assert batch.state is not None, "start the rows (begin / begin_contexts) before writing replies"
    backbone, rows = batch.backbone, range(batch.num_rows)
    eos, limit = backbone.eos_token_id, int(batch.setup.config.max_reply_tokens)
    done = torch.zeros(batch.num_rows, dtype=torch.bool, device=backbone.device)
    steps: list[torch.Tensor] = []
    for t in range(limit):
        token = batch.tokens_for(policy(batch))
        token = torch.where(done, torch.full_like(token, eos), token)
        steps.append(token)
        done = done | (token == eos)
        if observe:
            for row, tok in zip(rows, token.tolist()):
                batch.replies[row].append(int(tok))
        if (observe or (t + 1) % DONE_CHECK_EVERY == 0) and bool(done.all()):
            break
        if t + 1 < limit:
            h = backbone.step(batch.state, token)
            if observe:
                batch.embeddings = batch._host_embeddings(h)
    out = []
    for row, ids in zip(rows, torch.stack(steps, dim=1).tolist()):
        ended = eos in ids
        out.append(ids[: ids.index(eos)] if ended else ids)
        batch.replies[row] = out[-1] + [eos] if ended else list(out[-1])
    return out


def write_context_replies(
    backbone: Backbone, contexts: Sequence[Context], policy: Policy, max_new_tokens: int,
    world_model: WorldModel | None = None, batch_size: int = 64,
) -> list[list[int]]:
    """:func:`write_replies` for bare contexts (no samples, no judge), ``batch_size`` rows at a time.

    Args:
        backbone: The frozen VLM.
        contexts: The prompts.
        policy: Picks the actions (e.g. :func:`lm_head_argmax`; :func:`prior_argmax` with a ``world_model``).
        max_new_tokens: The reply limit.
        world_model: The latent action model for a policy over codes (tokens greedy given the code), else ``None``.
        batch_size: Rows decoded together.

    Returns:
        One list of token ids per context, EOS left out.
    """
    config = ConversationConfig(max_reply_tokens=max_new_tokens)
    kind: ActionKind = "token" if world_model is None else "latent"
    setup = Setup("", kind, config, backbone, world_model, [], None, "compact")
    out: list[list[int]] = []
    for start in range(0, len(contexts), batch_size):
        chunk = contexts[start : start + batch_size]
        batch = ReplyBatch(setup, len(chunk))
        batch.begin_contexts(chunk)
        out.extend(write_replies(batch, policy))
    return out
