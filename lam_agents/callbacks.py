"""Training callbacks: decoded sample replies, reply length and judge failures in the SB3 logger (and tensorboard)."""

from __future__ import annotations

import logging
import math

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

logger = logging.getLogger(__name__)


class ReplyLogCallback(BaseCallback):
    """Log what the agent writes.

    At every finished episode it collects the reply, its length in tokens, the judge ratio and whether the judge
    failed (the env's ``info`` keys). At each rollout end it records ``replies/length_mean``,
    ``replies/judge_ratio_mean``, ``replies/judge_failures`` (this rollout) and ``replies/judge_failures_total``;
    every ``sample_every`` rollouts (updates) it also records up to ``n_samples`` decoded replies as text
    (``replies/sample_i``, shown under *Text* in tensorboard) and logs them at INFO level.

    Args:
        sample_every: Updates between decoded samples (0: never).
        n_samples: Replies shown each time.
    """

    def __init__(self, sample_every: int = 10, n_samples: int = 2, verbose: int = 0) -> None:
        super().__init__(verbose)
        if sample_every < 0 or n_samples < 0:
            raise ValueError(f"sample_every={sample_every} and n_samples={n_samples} must be >= 0")
        self.sample_every = sample_every
        self.n_samples = n_samples
        self.rollouts = 0
        self.failures_total = 0
        self._reset()

    def _reset(self) -> None:
        self.lengths: list[int] = []
        self.ratios: list[float] = []
        self.failures = 0
        self.samples: list[str] = []

    def _on_step(self) -> bool:
        for done, info in zip(self.locals.get("dones", ()), self.locals.get("infos", ())):
            if not done or "reply_tokens" not in info:
                continue
            self.lengths.append(int(info["reply_tokens"]))
            if info.get("judge_failed"):
                self.failures += 1
            elif not math.isnan(info.get("judge_ratio", math.nan)):
                self.ratios.append(float(info["judge_ratio"]))
            if len(self.samples) < self.n_samples:
                self.samples.append(f"[{info.get('sample_id', '?')}] {info.get('reply', '')!r}")
        return True

    def _on_rollout_end(self) -> None:
        self.rollouts += 1
        self.failures_total += self.failures
        if self.lengths:
            self.logger.record("replies/length_mean", float(np.mean(self.lengths)))
        if self.ratios:
            self.logger.record("replies/judge_ratio_mean", float(np.mean(self.ratios)))
        self.logger.record("replies/judge_failures", self.failures)
        self.logger.record("replies/judge_failures_total", self.failures_total)
        if self.sample_every and self.rollouts % self.sample_every == 0:
            for i, text in enumerate(self.samples):
                self.logger.record(f"replies/sample_{i}", text, exclude=("stdout", "log", "csv", "json"))
                logger.info("update %d sample reply %s", self.rollouts, text)
        self._reset()


class CurveCallback(BaseCallback):
    """Keep (timesteps, judge ratio) of every judged reply, for learning curves (one per episode on single-reply envs,
    one per exchange on dialogue envs)."""

    def __init__(self) -> None:
        super().__init__()
        self.points: list[tuple[int, float]] = []

    def _on_step(self) -> bool:
        for done, info in zip(self.locals.get("dones", ()), self.locals.get("infos", ())):
            if (done or info.get("reply_done")) and "judge_ratio" in info and not math.isnan(info["judge_ratio"]):
                self.points.append((self.num_timesteps, float(info["judge_ratio"])))
        return True
