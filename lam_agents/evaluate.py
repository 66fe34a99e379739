"""Evaluating a trained agent on the test splits the way the paper reports it.

For each split, the first ``n`` prompts are answered ``samples_per_prompt`` times (round r samples the policy with a
torch generator seeded ``seed + r``). Each round gives the judge's per-dimension ratio and total ratio averaged over
the prompts; the report is the mean ± std of those over the rounds (``np.std``, i.e. over the rounds themselves).
Judge failures are counted and left out of the means, never replaced by a number.

On a dialogue env (``lam/<Task>-Dialogue-<Kind>-v0``) every reply of a conversation is judged: the report adds the
mean ratio of each exchange (turn 1, 2, ...) and its total is the *whole-dialogue* score, the mean over the
dialogues of each dialogue's mean reply ratio.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from lam_agents.algos import AlgoSpec, algo_spec

logger = logging.getLogger(__name__)


@dataclass
class SplitScores:
    """Judge ratios of one split: per dimension and in total, mean and std over the sampling rounds."""

    split: str
    n_prompts: int
    samples_per_prompt: int
    dimensions: dict[str, tuple[float, float]]
    total: tuple[float, float]
    judge_failures: int
    mean_reply_tokens: float
    replies: list[str] = field(default_factory=list)
    turns: list[tuple[float, float]] = field(default_factory=list)
    """Dialogue envs: the mean ratio of the replies to exchange k (k = 1, 2, ...), mean and std over the rounds;
    empty for single-reply envs."""


def model_spec(model: Any) -> AlgoSpec:
    """The :class:`AlgoSpec` of a model's class (``PPO``, ``MaskablePPO``, ...); a class ``lam train`` does not know
    is taken as a plain one (no masks, no recurrent state)."""
    try:
        return algo_spec(type(model).__name__)
    except ValueError:
        return AlgoSpec(type(model).__name__, "", "MlpPolicy")


class ModelPolicy:
    """An SB3 model's ``predict`` as a policy over batched observations, with what its algorithm needs: the envs'
    action masks (``AlgoSpec.masked``) and the recurrent state across steps (``AlgoSpec.recurrent``).

    Evaluation calls it on a vector env's observations, :class:`lam_agents.chat.ChatAgent` on the decode engine's
    (:func:`lam_envs.envs.engine.write_replies`), so both write a reply the same way.

    Args:
        model: A trained SB3 model.
        deterministic: Greedy actions instead of sampled ones.
        spec: Its algorithm (``None``: from the model's class, see :func:`model_spec`).
    """

    def __init__(self, model: Any, deterministic: bool, spec: AlgoSpec | None = None) -> None:
        self.model, self.deterministic = model, deterministic
        self.spec = model_spec(model) if spec is None else spec
        self.state: Any = None

    def __call__(self, obs: Any, action_masks: Callable[[], np.ndarray], episode_start: np.ndarray) -> np.ndarray:
        """One action per row of ``obs``; ``action_masks()`` is called only for a masked algorithm, and
        ``episode_start`` (True where a row's episode begins) resets a recurrent state."""
        kwargs: dict[str, Any] = {"deterministic": self.deterministic}
        if self.spec.masked:
            kwargs["action_masks"] = action_masks()
        if self.spec.recurrent:
            kwargs.update(state=self.state, episode_start=episode_start)
        actions, self.state = self.model.predict(obs, **kwargs)
        return np.asarray(actions).reshape(-1).astype(np.int64)


def answer_dialogues(model: Any, venv: Any, indices: Sequence[int], deterministic: bool = False,
                     seed: int = 0, spec: AlgoSpec | None = None) -> list[list[dict[str, Any]]]:
    """One episode per prompt in ``indices``, played by ``model`` in ``venv`` (rows pinned by reset options): the
    ``info`` of each judged reply, in order (one per episode on a single-reply env, one per exchange on a dialogue env).

    Args:
        model: A trained SB3 model.
        venv: A vector env from :func:`lam_agents.envs.make_vec_env`.
        indices: Sample indices of the env's split.
        deterministic: Greedy actions instead of sampled ones.
        seed: Seeds torch's sampling of the actions (the caller's generator state is restored afterwards).
        spec: The model's algorithm (``None``: from its class).
    """
    from lam_agents.envs import pin_rows

    n = venv.num_envs
    out: list[list[dict[str, Any]]] = []
    masks = lambda: np.stack(venv.env_method("action_masks"))  # noqa: E731
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start in range(0, len(indices), n):
            chunk = list(indices[start : start + n])
            pins = chunk + [chunk[0]] * (n - len(chunk))
            pin_rows(venv, pins)
            obs = venv.reset()
            replies: list[list[dict[str, Any]]] = [[] for _ in range(n)]
            over = np.zeros(n, dtype=bool)
            policy, episode_start = ModelPolicy(model, deterministic, spec), np.ones(n, dtype=bool)
            while not over[: len(chunk)].all():
                obs, _, episode_start, infos = venv.step(policy(obs, masks, episode_start))
                for row in range(n):
                    if not over[row] and infos[row].get("reply_done"):
                        replies[row].append(infos[row])
                over |= episode_start
            out.extend(replies[: len(chunk)])
    return out


def answer_prompts(model: Any, venv: Any, indices: Sequence[int], deterministic: bool = False,
                   seed: int = 0, spec: AlgoSpec | None = None) -> list[dict[str, Any]]:
    """One reply per prompt in ``indices`` (see :func:`answer_dialogues`): the final ``info`` of each episode, in the
    order of ``indices`` (on a dialogue env, its last reply's)."""
    return [episode[-1] for episode in answer_dialogues(model, venv, indices, deterministic, seed, spec)]


def score_split(model: Any, env_id: str, env_kwargs: dict[str, Any], split: str, n: int, samples_per_prompt: int = 3,
                seed: int = 0, n_envs: int = 8, deterministic: bool = False,
                spec: AlgoSpec | None = None) -> SplitScores:
    """Judge ratios of ``model`` on the first ``n`` prompts of ``split`` (see the module docstring).

    Raises:
        ValueError: for non-positive ``n`` or ``samples_per_prompt``.
    """
    from lam_agents.envs import inner_env, make_vec_env

    if n <= 0 or samples_per_prompt <= 0:
        raise ValueError(f"n={n} and samples_per_prompt={samples_per_prompt} must be positive")
    kwargs = {**env_kwargs, "split": split, "num_samples": n}
    venv = make_vec_env(env_id, min(n_envs, n), seed, kwargs)
    n_prompts = inner_env(venv).num_samples
    rounds: list[dict[str, float]] = []
    turn_rounds: list[list[float]] = []
    failures, lengths, replies = 0, [], []
    for r in range(samples_per_prompt):
        episodes = answer_dialogues(model, venv, range(n_prompts), deterministic=deterministic, seed=seed + r,
                                    spec=spec)
        infos = [i for episode in episodes for i in episode]
        ok = [i for i in infos if not i.get("judge_failed")]
        failures += len(infos) - len(ok)
        lengths += [i["reply_tokens"] for i in infos]
        replies += [i["reply"] for i in infos[:2]]
        if not ok:
            continue
        per_dim = {d: float(np.mean([i["dimension_ratios"][d] for i in ok])) for d in ok[0]["dimension_ratios"]}
        # Whole-episode score: each dialogue's mean reply ratio, averaged (one reply each: the plain mean).
        judged = [[i["judge_ratio"] for i in episode if not i.get("judge_failed")] for episode in episodes]
        per_dim["total"] = float(np.mean([np.mean(j) for j in judged if j]))
        rounds.append(per_dim)
        if any("turn" in i for i in ok):
            by_turn: dict[int, list[float]] = {}
            for i in ok:
                by_turn.setdefault(int(i["turn"]), []).append(float(i["judge_ratio"]))
            turn_rounds.append([float(np.mean(by_turn[k])) if k in by_turn else math.nan
                                for k in range(max(by_turn) + 1)])
    venv.close()
    if not rounds:
        nan = (math.nan, math.nan)
        return SplitScores(split, n_prompts, samples_per_prompt, {}, nan, failures, float(np.mean(lengths)), replies)
    stat = lambda key: (float(np.mean([x[key] for x in rounds])), float(np.std([x[key] for x in rounds])))  # noqa: E731
    dims = {d: stat(d) for d in rounds[0] if d != "total"}
    turns = []
    for k in range(max((len(t) for t in turn_rounds), default=0)):
        values = [t[k] for t in turn_rounds if k < len(t) and not math.isnan(t[k])]
        turns.append((float(np.mean(values)), float(np.std(values))) if values else (math.nan, math.nan))
    return SplitScores(split, n_prompts, samples_per_prompt, dims, stat("total"), failures, float(np.mean(lengths)),
                       replies, turns)


def evaluate_run(run_dir: str, env_id: str | None = None, splits: Sequence[str] = ("test_id", "test_ood"), n: int = 50,
                 samples_per_prompt: int = 3, seed: int = 0, deterministic: bool = False,
                 judge_api_key_env: str | None = None,
                 env_overrides: dict[str, Any] | None = None) -> list[SplitScores]:
    """Load a run written by ``lam train`` and score it on ``splits`` (env id and keywords from its ``run.json``).

    Args:
        run_dir: The run directory (or a checkpoint ``.zip`` in it).
        env_id: Evaluate on this env instead of the one trained on.
        splits: The splits to score.
        n: Prompts per split.
        samples_per_prompt: Sampling rounds.
        seed: Seed of the first round (round r uses ``seed + r``).
        deterministic: Greedy actions instead of sampled ones.
        judge_api_key_env: The environment variable holding the LLM judge's key, overriding the recorded one (needed
            when the run's judge was given a literal key, which runs do not store).
        env_overrides: Env keywords that replace the recorded ones, e.g. an object ``run.json`` could not hold.

    Raises:
        ValueError: if a recorded keyword cannot be rebuilt (the message names it and the fix).
    """
    from lam_agents.env_kwargs import env_kwargs_from_record
    from lam_agents.train import load_agent

    model, run = load_agent(run_dir)
    config = run["config"]
    env_id = env_id or config["env_id"]
    if env_id != config["env_id"]:
        logger.warning("evaluating a model trained on %s on %s", config["env_id"], env_id)
    spec = algo_spec(config["algo"])
    overrides = env_overrides or {}
    recorded = {k: v for k, v in config["env_kwargs"].items() if k not in overrides}
    env_kwargs = {**env_kwargs_from_record(recorded, judge_api_key_env=judge_api_key_env), **overrides}
    return [score_split(model, env_id, env_kwargs, s, n, samples_per_prompt, seed, deterministic=deterministic,
                        spec=spec) for s in splits]


def format_scores(rows: Sequence[SplitScores]) -> str:
    """A plain-text table: one line per split and dimension, mean ± std."""
    lines = []
    for row in rows:
        lines.append(f"{row.split}: {row.n_prompts} prompts x {row.samples_per_prompt} samples, judge failures "
                     f"{row.judge_failures}, mean reply {row.mean_reply_tokens:.1f} tokens")
        for dim, (m, s) in row.dimensions.items():
            lines.append(f"  {dim:<28} {m:.3f} ± {s:.3f}")
        for k, (m, s) in enumerate(row.turns, start=1):
            lines.append(f"  {f'turn {k}':<28} {m:.3f} ± {s:.3f}")
        total = "WHOLE DIALOGUE" if row.turns else "TOTAL"
        lines.append(f"  {total:<28} {row.total[0]:.3f} ± {row.total[1]:.3f}")
    return "\n".join(lines)
