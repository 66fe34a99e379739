"""Observation spaces and the per-row observations and ``info`` dicts built from a :class:`ReplyBatch`.

Default observation: the context embedding h_t as a flat float32 ``Box(-obs_bound, obs_bound, (d,))`` that any SB3
``MlpPolicy`` accepts. ``observation="dict"`` adds the sample's image (uint8, ``obs_image_size`` square, RGB) and the
reply's token ids so far (int64, padded with the backbone's pad id to ``max_reply_tokens``) with their count.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from gymnasium import spaces
from PIL import Image

from lam_envs.data.types import Sample
from lam_envs.envs.dynamics import ReplyBatch, StepResult
from lam_envs.envs.setup import Setup


def observation_space(setup: Setup) -> spaces.Space:
    """The single-env observation space for ``setup``'s backbone and settings."""
    config = setup.config
    d = setup.backbone.hidden_size
    embedding = spaces.Box(-config.obs_bound, config.obs_bound, shape=(d,), dtype=np.float32)
    if config.progress_feature:
        low = np.append(np.full(d, -config.obs_bound, dtype=np.float32), np.float32(0.0))
        high = np.append(np.full(d, config.obs_bound, dtype=np.float32), np.float32(1.0))
        embedding = spaces.Box(low, high, dtype=np.float32)
    if config.observation == "embedding":
        return embedding
    side = config.obs_image_size
    vocab = setup.backbone.vocab_size
    return spaces.Dict(
        {
            "embedding": embedding,
            "image": spaces.Box(0, 255, shape=(side, side, 3), dtype=np.uint8),
            "reply_ids": spaces.Box(0, vocab - 1, shape=(config.max_reply_tokens,), dtype=np.int64),
            "reply_length": spaces.Box(0, config.max_reply_tokens, shape=(1,), dtype=np.int64),
        }
    )


@functools.lru_cache(maxsize=256)
def _image_array(sample: Sample, side: int) -> np.ndarray:
    # Samples are frozen and hashable; an episode's image is read once per episode, so a small cache spares
    # re-rendering (synthetic scenes) or re-decoding (files) the same image at every step.
    image = sample.image.load().convert("RGB").resize((side, side), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    array.setflags(write=False)
    return array


def embedding_observations(batch: ReplyBatch) -> np.ndarray:
    """(B, d) context embeddings, or (B, d + 1) with the used share of the reply budget when ``progress_feature``."""
    config = batch.setup.config
    if not config.progress_feature:
        return batch.embeddings.copy()
    used = np.array([min(len(r), config.max_reply_tokens) for r in batch.replies], dtype=np.float32)
    return np.concatenate([batch.embeddings, (used / config.max_reply_tokens)[:, None]], axis=1)


def row_observation(batch: ReplyBatch, row: int) -> Any:
    """Row ``row``'s current observation (a copy: later steps never change it)."""
    setup = batch.setup
    embedding = embedding_observations(batch)[row]
    if setup.config.observation == "embedding":
        return embedding
    limit = setup.config.max_reply_tokens
    reply = batch.replies[row][:limit]
    ids = np.full(limit, batch.backbone.pad_token_id, dtype=np.int64)
    ids[: len(reply)] = reply
    return {
        "embedding": embedding,
        "image": _image_array(batch.sample(row), setup.config.obs_image_size).copy(),
        "reply_ids": ids,
        "reply_length": np.array([len(reply)], dtype=np.int64),
    }


def reset_info(batch: ReplyBatch, row: int) -> dict[str, Any]:
    """``info`` at the start of an episode."""
    sample = batch.sample(row)
    info: dict[str, Any] = {"sample_id": sample.id, "sample_index": int(batch.sample_index[row]), "reply": ""}
    if batch.setup.scripts is not None:
        info.update(turn=0, turns=batch.setup.num_exchanges(int(batch.sample_index[row])))
    return info


def step_info(batch: ReplyBatch, row: int, result: StepResult) -> dict[str, Any]:
    """``info`` after a step: the token, the reply so far and, when a reply ends, the judge's verdict on it."""
    sample = batch.sample(row)
    finished = result.finished.get(row)
    reply = batch.replies[row] if finished is None else finished
    info: dict[str, Any] = {
        "sample_id": sample.id,
        "sample_index": int(batch.sample_index[row]),
        "token": int(result.tokens[row]),
        "reply": batch.backbone.decode(reply),
        "reply_tokens": len(reply),
        "reply_done": finished is not None,
    }
    if batch.setup.scripts is not None:
        # The exchange this step's token belongs to (a finished reply's, even when the row has moved on).
        turn = int(batch.turn[row]) - (1 if finished is not None and not result.terminated[row] else 0)
        info.update(turn=turn, turns=batch.setup.num_exchanges(int(batch.sample_index[row])))
    judged = result.judged.get(row)
    if judged is None:
        return info
    config = batch.setup.config
    failed = bool(result.judge_failed[row])
    info.update(
        {
            "judge_ratio": float("nan") if failed else float(judged.ratio),
            "judge_scores": dict(judged.candidate),
            "reference_scores": dict(judged.reference),
            "dimension_ratios": judged.dimension_ratios,
            "judge_failed": failed,
            "judge_error": judged.error or "",
            "cut_at_limit": bool(result.cut[row]),
            "reward_terms": result.reward_terms(row, config),
            "is_success": (not failed) and judged.ratio >= config.success_threshold,
        }
    )
    return info
