"""The one decode engine (``lam_envs.envs.engine.write_replies``): the reports' greedy and prior-code replies are what
the loops they replaced wrote, and an env episode is the engine under the same policy and decode seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from lam_envs.backbone import Backbone, Context
from lam_envs.backbone.generate import greedy_token_ids
from lam_envs.data.prompts import sample_messages
from lam_envs.data.synthetic import synthetic_samples
from lam_envs.envs.dynamics import ReplyBatch
from lam_envs.envs.setup import Setup
from lam_envs.envs.engine import lm_head_argmax, prior_argmax, write_replies
from lam_envs.envs.resolve import resolve_world_model
from lam_envs.latent.report import prior_replies


def _old_loop(backbone: Backbone, contexts: list[Context], max_new: int, pick: Any) -> list[list[int]]:
    """The loop greedy_token_ids and prior_replies each had before (check for the end every 8 tokens)."""
    eos = backbone.eos_token_id
    state = backbone.prefill(contexts)
    done = torch.zeros(len(contexts), dtype=torch.bool)
    steps = []
    with torch.no_grad():
        for t in range(max_new):
            token = pick(state.h)
            token = torch.where(done, torch.full_like(token, eos), token)
            steps.append(token)
            done = done | (token == eos)
            if (t + 1) % 8 == 0 and bool(done.all()):
                break
            if t + 1 < max_new:
                backbone.step(state, token)
    return [row[: row.index(eos)] if eos in row else row for row in torch.stack(steps, dim=1).tolist()]


@pytest.fixture(scope="module")
def contexts() -> list[Context]:
    samples = synthetic_samples("mmrole", "test_id", seed=0, n=5)
    return [Context(s.image.load(), sample_messages(s, "compact")) for s in samples]


def test_reports_write_what_the_replaced_loops_wrote(env_backbone: Backbone, latent_dir: Path,
                                                    contexts: list[Context]) -> None:
    model = resolve_world_model(str(latent_dir), env_backbone)
    greedy = _old_loop(env_backbone, contexts, 12, lambda h: env_backbone.lm_head(h).argmax(-1))
    assert greedy_token_ids(env_backbone, contexts, 12, batch_size=2) == greedy
    codes = lambda h: model.token_logits(h, model.prior_logits(h).argmax(-1), env_backbone).argmax(-1)  # noqa: E731
    old_prior = [env_backbone.decode(r).strip() for r in _old_loop(env_backbone, contexts, 12, codes)]
    assert prior_replies(model, env_backbone, contexts, 12, batch_size=3) == old_prior  # type: ignore[arg-type]


@pytest.mark.parametrize("env_id, policy, extra", [
    ("lam/MMRole-Token-v0", lm_head_argmax, {}),
    ("lam/MMRole-Latent-v0", prior_argmax, {}),
    ("lam/MMRole-Latent-v0", prior_argmax, {"decoding": "sample", "temperature": 2.0}),
])
def test_an_env_episode_is_the_engine_under_the_same_policy_and_seed(env_kwargs: dict[str, Any], env_id: str,
                                                                     policy: Any, extra: dict[str, Any]) -> None:
    kwargs = {**env_kwargs, **extra, "max_reply_tokens": 6}
    envs = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", **kwargs).unwrapped
    envs.reset(seed=7, options={"sample_index": [0, 1, 1]})
    batch = envs.batch  # the env's own rows, to read their decode seeds and h_t for the policy
    seeds = [rng.bit_generator.state for rng in batch.decode_rngs]
    finished: dict[int, str] = {}
    while len(finished) < 3:
        _, _, terminated, truncated, infos = envs.step(policy(batch).cpu().numpy())
        for row in np.flatnonzero(terminated | truncated):
            finished.setdefault(int(row), infos["final_info"]["reply"][row])
    setup = Setup.for_decoding("mmrole", envs.action_kind, envs.config, envs.parts.samples)
    engine = ReplyBatch(setup, 3)
    engine.begin([0, 1, 2], [0, 1, 1], [0, 0, 0])
    for rng, state in zip(engine.decode_rngs, seeds):
        rng.bit_generator.state = state
    write_replies(engine, policy)
    assert [engine.reply_text(r) for r in range(3)] == [finished[r] for r in range(3)]
