"""The dynamics shared by the single and the batched conversation envs: B replies decoded together.

:class:`ReplyBatch` holds B rows, each writing one reply to one sample. A single env is a batch of one and the vector
env a batch of N, so both run exactly the same code: per step, one world-model read-out (latent envs), one batched
backbone step for all rows, and one host transfer of the new tokens and embeddings. Finished rows are restarted
with :meth:`Backbone.replace_rows <lam_envs.backbone.Backbone.replace_rows>`, which splices freshly prefilled rows
into the batch's KV cache without touching the others.

Every random choice of a row (its next sample, its sampled tokens) comes from that row's own ``np.random.Generator``,
so row i of a vector env seeded with ``seed`` replays a single env seeded with ``seed + i`` step for step.

An exception never leaves a half-updated row behind. A step first computes everything that can fail without
changing the batch (the tokens, the judge's verdicts on finished replies), then commits (one backbone step, the new
tokens appended). A row an exception interrupts is marked *broken* (:attr:`ReplyBatch.broken`) before anything of it
changes, refuses to step, and is cleared only when :meth:`ReplyBatch.begin` restarts it.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from lam_envs.backbone import Context, DecodeState
from lam_envs.data.dialogue import DialogueScript, Exchange, turn_sample
from lam_envs.data.types import Sample, Turn
from lam_envs.envs.config import DEFAULT_TOKEN_MASK_TOP_P, ConversationConfig, Int
from lam_envs.envs.prompting import contexts_for
from lam_envs.envs.setup import Setup
from lam_envs.rewards.base import JudgeError, JudgeResult, check_results

logger = logging.getLogger(__name__)


def generator_from_state(state: dict[str, Any]) -> np.random.Generator:
    """A NumPy generator in the ``bit_generator.state`` a saved env state recorded (see ``get_state``)."""
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


def top_p_mask(logits: torch.Tensor, top_p: float) -> np.ndarray:
    """Boolean (B, N) mask of the smallest set of entries whose softmax mass reaches ``top_p`` (at least one).

    Args:
        logits: (B, N) scores.
        top_p: Nucleus mass in (0, 1].

    Returns:
        The mask as a NumPy bool array.
    """
    probs = torch.softmax(logits.float(), dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    # Keep an entry while the mass before it is still short of top_p: the entry that crosses top_p is kept.
    keep_sorted = (sorted_probs.cumsum(dim=-1) - sorted_probs) < top_p
    keep_sorted[:, 0] = True
    mask = torch.zeros_like(keep_sorted).scatter(1, order, keep_sorted)
    return mask.cpu().numpy()


@dataclass
class StepResult:
    """What one batched step produced, per row (NumPy arrays of length B, lists of per-row values).

    ``rewards`` is the sum of the reward terms, each kept on its own: ``judge_rewards`` (the judge's ratio, or
    ``judge_failure_reward``, on a judged row; 0 elsewhere), ``-step_penalty`` on every row and
    ``-truncation_penalty`` on a row in ``cut``.
    """

    tokens: np.ndarray
    embeddings: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    """The episode is over: its last reply is done (one reply, or a dialogue's last exchange)."""
    cut: np.ndarray
    """The reply reached ``max_reply_tokens`` without EOS (a subset of ``reply_done``)."""
    judged: dict[int, JudgeResult]
    judge_failed: np.ndarray
    judge_rewards: np.ndarray
    reply_done: np.ndarray
    """The row's reply is over and judged: its token was EOS, or it reached ``max_reply_tokens`` (``cut``)."""
    finished: dict[int, list[int]]
    """The token ids of each reply that ended at this step (a dialogue row is already on its next exchange)."""
    idle: np.ndarray
    """The row was waiting (:meth:`ReplyBatch.hold`): its step changed nothing of it and paid nothing."""

    def reward_terms(self, row: int, config: ConversationConfig) -> dict[str, float]:
        """Row ``row``'s reward split into its terms (they sum to ``rewards[row]``)."""
        return {
            "judge": float(self.judge_rewards[row]),
            "step_penalty": 0.0 - config.step_penalty,
            "truncation_penalty": 0.0 - config.truncation_penalty if self.cut[row] else 0.0,
        }


class ReplyBatch:
    """B replies being written at once, with one decode state for all of them.

    Rows started together on the same sample (a GRPO group pinned by ``sample_index``) share one prefill of its
    prompt, and prompts and images seen before come from the backbone's bounded caches (see
    :meth:`Backbone.prefill <lam_envs.backbone.Backbone.prefill>`); ``share_prefill=False`` prefills every row on
    its own. Both give the same tokens; embeddings agree up to float rounding.

    Args:
        setup: The resolved backbone, world model, samples and judge.
        num_rows: B.
        share_prefill: Share prefills between equal prompts and use the backbone's caches.
    """

    def __init__(self, setup: Setup, num_rows: int, share_prefill: bool = True) -> None:
        if num_rows <= 0:
            raise ValueError(f"num_rows={num_rows} must be positive")
        self.setup = setup
        self.num_rows = num_rows
        self.backbone = setup.backbone
        self.state: DecodeState | None = None
        self.sample_index = np.zeros(num_rows, dtype=np.int64)
        self.replies: list[list[int]] = [[] for _ in range(num_rows)]
        self.turn = np.zeros(num_rows, dtype=np.int64)
        """Dialogue episodes: the exchange each row is answering (0-based; always 0 for one reply)."""
        self.own_replies: list[list[str]] = [[] for _ in range(num_rows)]
        """Dialogue episodes: each row's earlier replies in this episode, as text (its context holds them)."""
        self.simulated: list[list[str]] = [[] for _ in range(num_rows)]
        """Dialogue episodes with a simulated user: the user turns it wrote for each row past the script."""
        self.history: list[list[int]] = [[] for _ in range(num_rows)]
        """Dialogue episodes: the token ids each row's cache holds after its first exchange's prompt (earlier
        replies and the user turns that followed them), to rebuild the row from a checkpoint."""
        self.embeddings = np.zeros((num_rows, self.backbone.hidden_size), dtype=np.float32)
        self.decode_rngs: list[np.random.Generator] = [np.random.default_rng(0) for _ in range(num_rows)]
        self.judge_failures = 0
        self.broken: list[str | None] = [None] * num_rows
        """Per row: why it cannot step (the exception that interrupted it), or ``None``. Set before a row changes,
        cleared only by :meth:`begin`."""
        self.idle = np.zeros(num_rows, dtype=bool)
        """Per row: its episode is over and it waits for :meth:`begin` (see :meth:`hold`)."""
        self._bound = float(setup.config.obs_bound)
        self.share_prefill = share_prefill

    # ------------------------------------------------------------------------------------------------ episodes
    def sample(self, row: int) -> Sample:
        """The sample row ``row``'s episode is on."""
        return self.setup.samples[int(self.sample_index[row])]

    def turn_sample(self, row: int) -> Sample:
        """What row ``row`` is answering now, as the judge sees it: its sample, or in a dialogue episode the current
        exchange with the row's own earlier replies (:func:`~lam_envs.data.dialogue.turn_sample`)."""
        return self._exchange(int(self.sample_index[row]), int(self.turn[row]), self.own_replies[row],
                              self.simulated[row])

    def _exchange(self, index: int, k: int, replies: Sequence[str], simulated: Sequence[str] = ()) -> Sample:
        sample = self.setup.samples[index]
        if self.setup.scripts is None:
            return sample
        script = self.setup.scripts[index]
        if simulated:
            speaker = next((t.speaker for e in script.exchanges for t in e.user), "User")
            extra = tuple(Exchange((Turn("user", speaker, text),), None) for text in simulated)
            script = DialogueScript(script.opening, script.exchanges + extra)
        return turn_sample(sample, script, k, replies)

    def _context(self, index: int, k: int = 0, replies: Sequence[str] = (), simulated: Sequence[str] = ()) -> Context:
        # A dialogue env shows the whole conversation (its context only grows); so does a chat with an agent trained
        # on one (``Setup.for_decoding`` keeps the config but has no scripts).
        whole = self.setup.config.dialogue
        return contexts_for([self._exchange(index, k, replies, simulated)], self.setup.prompt_style, whole)[0]

    def episode_over_after(self, row: int) -> bool:
        """Whether the row's current reply is its episode's last."""
        return int(self.turn[row]) + 1 >= self.setup.num_exchanges(int(self.sample_index[row]))

    def draw_index(self, rng: np.random.Generator, sample_index: int | None) -> int:
        """The next sample index: ``sample_index`` if given (checked), else uniform from ``rng``.

        Raises:
            ValueError: for an index outside the sample list.
        """
        n = len(self.setup.samples)
        if sample_index is None:
            return int(rng.integers(n))
        index = Int()("options['sample_index']", sample_index)
        if not 0 <= index < n:
            raise ValueError(f"sample_index={sample_index} is outside [0, {n}); this env has {n} samples")
        return index

    def broken_rows(self) -> list[int]:
        """The rows that must be restarted before the batch can step again."""
        return [r for r, why in enumerate(self.broken) if why is not None]

    def hold(self, rows: Sequence[int]) -> None:
        """Let ``rows``, whose episodes are over, wait instead of starting new ones: until :meth:`begin` restarts
        them, their steps change nothing of them (no token is added to the reply, no judge, the embedding stays the
        final one) and pay no reward or penalty. They still ride along in the batched backbone step, whose KV rows
        for them nobody reads. For callers that ignore rows after their episode (a GRPO group, an evaluation), it
        saves the prefill, image and judge of a new episode that would be thrown away."""
        self.idle[list(rows)] = True

    def _break(self, rows: Sequence[int], cause: BaseException | str) -> None:
        why = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        for row in rows:
            self.broken[int(row)] = why

    def begin(
        self, rows: Sequence[int], indices: Sequence[int], decode_seeds: Sequence[int], *, skip_failed: bool = False
    ) -> dict[int, BaseException]:
        """Start new replies in ``rows`` to the samples ``indices``, with sampling generators from ``decode_seeds``.

        Restarting every row prefills a fresh batch; restarting some splices them into the running batch. Each row's
        context (its image, its messages) is built before anything changes; a row whose context fails (e.g. an image
        that fails to load) is left broken and keeps its previous state.

        Args:
            rows: The rows to restart.
            indices: Their samples.
            decode_seeds: Seeds of their sampling generators.
            skip_failed: Start the rows whose context was built and return the failures (autoreset), instead of
                leaving every row of ``rows`` broken and raising the first failure (an explicit reset).

        Returns:
            The rows that failed to start and why (only with ``skip_failed``; otherwise empty).

        Raises:
            Exception: the first row's failure when not ``skip_failed``.
        """
        rows, indices, decode_seeds = list(rows), list(indices), list(decode_seeds)
        if not len(rows) == len(indices) == len(decode_seeds):
            raise ValueError(f"got {len(rows)} rows, {len(indices)} indices and {len(decode_seeds)} seeds")
        contexts: dict[int, Any] = {}
        errors: dict[int, BaseException] = {}
        for row, index in zip(rows, indices):
            try:
                contexts[row] = self._context(index)
            except Exception as exc:  # noqa: BLE001 (any loader error: the row is broken, the message says why)
                errors[row] = exc
        if errors and not skip_failed:
            first = next(iter(errors.values()))
            self._break(rows, first)
            raise first
        for row, exc in errors.items():
            self._break([row], exc)
        keep = [i for i, row in enumerate(rows) if row not in errors]
        if keep:
            self._start([rows[i] for i in keep], [indices[i] for i in keep], [decode_seeds[i] for i in keep],
                        [contexts[rows[i]] for i in keep])
        return errors

    def begin_contexts(self, contexts: Sequence[Context], decode_seeds: Sequence[int] | None = None) -> None:
        """Start every row on a context of its own, with no sample behind it (reports that decode from contexts:
        such rows can be written with :func:`write_replies` but not judged; ``sample(row)`` means nothing for them).

        Args:
            contexts: One per row.
            decode_seeds: Seeds of the rows' sampling generators (``None``: 0 each; greedy decoding draws none).
        """
        seeds = [0] * self.num_rows if decode_seeds is None else list(decode_seeds)
        if len(contexts) != self.num_rows or len(seeds) != self.num_rows:
            raise ValueError(f"got {len(contexts)} contexts and {len(seeds)} seeds for {self.num_rows} rows")
        self._start(list(range(self.num_rows)), [0] * self.num_rows, seeds, list(contexts))

    def _start(self, rows: list[int], indices: list[int], decode_seeds: list[int], contexts: list[Any]) -> None:
        full = sorted(rows) == list(range(self.num_rows))
        if self.state is None and not full:
            raise RuntimeError("the batch has no decode state yet; restart every row first (reset() without a mask)")
        self._break(rows, "a reset was interrupted")
        try:
            if full:
                order = np.argsort(rows)
                state = self.backbone.prefill([contexts[i] for i in order], share=self.share_prefill)
                embeddings = self._host_embeddings(state.h)
                self.state, self.embeddings = state, embeddings
            else:
                assert self.state is not None
                self.backbone.replace_rows(self.state, rows, contexts, share=self.share_prefill)
                self.embeddings[rows] = self._host_embeddings(self.state.h[rows])
        except BaseException as exc:
            self._break(rows, exc)
            raise
        for row, index, seed in zip(rows, indices, decode_seeds):
            self.sample_index[row] = index
            self.replies[row] = []
            self.turn[row], self.own_replies[row], self.history[row], self.simulated[row] = 0, [], [], []
            self.decode_rngs[row] = np.random.default_rng(int(seed))
            self.broken[row] = None
            self.idle[row] = False

    # ------------------------------------------------------------------------------------------- checkpoints
    def get_state(self) -> dict[str, Any]:
        """The rows' episodes as JSON-able values: sample, reply so far, sampling generator, broken flag.

        With :meth:`set_state` this lets a training run stop between two rollouts and resume mid-episode: the
        decode state is rebuilt by prefilling each row's prompt followed by its reply so far.
        """
        return {
            "started": self.state is not None,
            "sample_index": [int(i) for i in self.sample_index],
            "replies": [list(map(int, r)) for r in self.replies],
            "turn": [int(t) for t in self.turn],
            "own_replies": [list(r) for r in self.own_replies],
            "history": [list(map(int, h)) for h in self.history],
            "simulated": [list(t) for t in self.simulated],
            "decode_rngs": [rng.bit_generator.state for rng in self.decode_rngs],
            "broken": list(self.broken),
            "idle": [bool(i) for i in self.idle],
            "judge_failures": int(self.judge_failures),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Put the rows back in the episodes :meth:`get_state` described (same samples and env configuration).

        Raises:
            ValueError: if the state is for another number of rows or samples.
        """
        if len(state["sample_index"]) != self.num_rows:
            raise ValueError(f"the saved state has {len(state['sample_index'])} rows; this batch has {self.num_rows}")
        indices = [int(i) for i in state["sample_index"]]
        if any(not 0 <= i < len(self.setup.samples) for i in indices):
            raise ValueError("the saved state names samples this env does not have; rebuild it with the run's settings")
        self.sample_index = np.asarray(indices, dtype=np.int64)
        self.replies = [list(map(int, r)) for r in state["replies"]]
        self.turn = np.asarray(state.get("turn", [0] * self.num_rows), dtype=np.int64)
        self.own_replies = [list(r) for r in state.get("own_replies", [[] for _ in range(self.num_rows)])]
        self.history = [list(map(int, h)) for h in state.get("history", [[] for _ in range(self.num_rows)])]
        self.simulated = [list(t) for t in state.get("simulated", [[] for _ in range(self.num_rows)])]
        self.decode_rngs = [generator_from_state(saved) for saved in state["decode_rngs"]]
        self.broken = list(state["broken"])
        self.idle = np.asarray(state.get("idle", [False] * self.num_rows), dtype=bool)
        self.judge_failures = int(state["judge_failures"])
        if not state["started"]:
            self.state = None
            return
        # Each row's first exchange's prompt, then everything its cache held after it.
        contexts = [self._context(int(i)) for i in self.sample_index]
        suffixes = [h + r for h, r in zip(self.history, self.replies)]
        self.state = self.backbone.prefill(contexts, suffixes, share=self.share_prefill)
        self.embeddings = self._host_embeddings(self.state.h)

    def _host_embeddings(self, h: torch.Tensor) -> np.ndarray:
        return h.float().clamp(-self._bound, self._bound).cpu().numpy()

    def reply_text(self, row: int) -> str:
        """The reply so far as text (special tokens such as EOS left out)."""
        return self.backbone.decode(self.replies[row])

    # ------------------------------------------------------------------------------------------------ actions
    def check_actions(self, actions: Any) -> np.ndarray:
        """``actions`` as a (B,) integer array, each in ``[0, num_actions)``.

        Raises:
            ValueError: for another shape, a non-integer dtype or an action out of range (nothing has changed).
        """
        actions = np.asarray(actions)
        if actions.shape != (self.num_rows,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"actions {actions!r} (shape {actions.shape}, dtype {actions.dtype}) must be an integer array of "
                f"shape ({self.num_rows},), one per env, in [0, {self.setup.num_actions})"
            )
        if actions.min() < 0 or actions.max() >= self.setup.num_actions:
            raise ValueError(f"actions {actions.tolist()} must lie in [0, {self.setup.num_actions})")
        return actions

    @torch.inference_mode()
    def tokens_for(self, actions: Any) -> torch.Tensor:
        """The token each row emits for its action (token envs: the action; latent: the world model's token).

        ``actions`` is checked (:meth:`check_actions`), except a torch tensor, which is taken as it is: a policy that
        computes its actions on the backbone's device (e.g. :func:`lm_head_argmax`) is trusted, so that reading its
        actions never waits on the device.
        """
        assert self.state is not None
        if isinstance(actions, torch.Tensor):
            acts = actions.to(device=self.backbone.device, dtype=torch.long)
        else:
            acts = torch.as_tensor(self.check_actions(actions), dtype=torch.long, device=self.backbone.device)
        if self.setup.action_kind == "token":
            return acts
        assert self.setup.world_model is not None
        world_model = self.setup.world_model
        if self.setup.config.decoding == "greedy":
            greedy = getattr(world_model, "greedy_tokens", None)  # a custom world model may only have token_logits
            if greedy is not None:
                return greedy(self.state.h, acts, self.backbone)
            return world_model.token_logits(self.state.h, acts, self.backbone).argmax(dim=-1)
        return self._sample(world_model.token_logits(self.state.h, acts, self.backbone))

    def _sample(self, logits: torch.Tensor) -> torch.Tensor:
        # Inverse-CDF sampling with one uniform per row from the row's own generator: a row's tokens do not depend
        # on which other rows share its batch, and there is no per-row torch call.
        config = self.setup.config
        logits = logits.float() / config.temperature
        if config.top_k is not None and config.top_k < logits.shape[-1]:
            kth = logits.topk(config.top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        cdf = torch.softmax(logits, dim=-1).cumsum(dim=-1)
        u = torch.tensor([rng.random() for rng in self.decode_rngs], dtype=cdf.dtype, device=cdf.device)
        index = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1)).squeeze(-1)
        return index.clamp_(max=logits.shape[-1] - 1)

    def action_masks(self) -> np.ndarray:
        """(B, num_actions) bool: which actions are allowed now (see ``ConversationConfig.mask_top_p``)."""
        assert self.state is not None
        top_p = self.setup.config.mask_top_p
        if self.setup.action_kind == "token":
            logits = self.backbone.lm_head(self.state.h)
            return top_p_mask(logits, DEFAULT_TOKEN_MASK_TOP_P if top_p is None else top_p)
        if top_p is None:
            return np.ones((self.num_rows, self.setup.num_actions), dtype=bool)
        assert self.setup.world_model is not None
        with torch.inference_mode():
            return top_p_mask(self.setup.world_model.prior_logits(self.state.h), top_p)

    # ------------------------------------------------------------------------------------------------ stepping
    def step(self, actions: Any) -> StepResult:
        """Emit one token per row, judge the replies it finishes, and advance the backbone once for the whole batch.

        In a dialogue episode, a row whose reply ends and whose dialogue goes on gets its next user turn appended to
        its cache (:meth:`Backbone.extend <lam_envs.backbone.Backbone.extend>`, only the new tokens) in the same step:
        its embedding is then the start of its next reply.

        Everything that can fail without changing the batch runs first (invalid actions raise ``ValueError`` and
        change nothing); an exception after that leaves the rows it concerns broken (see :attr:`broken`): the
        finished rows for a judge that raises, the failed ones for a ``JudgeError``, every row for a world-model or
        backbone error. Rows that are not broken are as they were before the step.

        Raises:
            RuntimeError: if a row is broken.
            JudgeError: if the judge fails on a reply and ``judge_failure_reward`` is ``None``.
        """
        assert self.state is not None, "call begin() before step()"
        broken = self.broken_rows()
        if broken:
            raise RuntimeError(f"rows {broken} are broken ({self.broken[broken[0]]}); restart them with begin()")
        actions = self.check_actions(actions)
        config = self.setup.config
        all_rows = range(self.num_rows)
        idle = self.idle.copy()
        # Sampling draws from the rows' generators: put them back if the step does not go through.
        sampling = self.setup.action_kind == "latent" and config.decoding == "sample"
        rng_states = [rng.bit_generator.state for rng in self.decode_rngs] if sampling else []
        try:
            try:
                tokens = self.tokens_for(actions)
                tokens_np = tokens.cpu().numpy()
            except BaseException as exc:
                self._break(all_rows, exc)
                raise
            # A reply cut at the length limit is judged as it stands: the reply ends there (and the episode with it,
            # ``terminated`` rather than ``truncated``: nothing follows, so an algorithm must not bootstrap past it).
            eos = (tokens_np == self.backbone.eos_token_id) & ~idle
            lengths = np.array([len(reply) + 1 for reply in self.replies])
            cut = ~eos & ~idle & (lengths >= config.max_reply_tokens)
            reply_done = eos | cut
            done = np.flatnonzero(reply_done).tolist()
            judged = self._judge(done, tokens_np) if done else {}
            going_on = [r for r in done if not self.episode_over_after(r)]
            next_turns, simulated = self._next_turns(going_on, tokens_np)
        except BaseException:
            for rng, state in zip(self.decode_rngs, rng_states):
                rng.bit_generator.state = state
            raise
        # Commit: from here on a failure has changed the shared KV cache, so it breaks every row.
        self._break(all_rows, "a step was interrupted")
        try:
            h = self.backbone.step(self.state, tokens)
            if going_on:
                self.backbone.extend(self.state, going_on, [next_turns[r] for r in going_on])
                h = self.state.h
            embeddings = self._host_embeddings(h)
        except BaseException as exc:
            self._break(all_rows, exc)
            raise
        embeddings[idle] = self.embeddings[idle]  # a waiting row keeps its final observation
        self.embeddings = embeddings
        for row in all_rows:
            if not idle[row]:
                self.replies[row].append(int(tokens_np[row]))
            self.broken[row] = None
        finished = {row: self.replies[row] for row in done}
        for row in going_on:
            if row in simulated:
                self.simulated[row].append(simulated[row])
            self.own_replies[row].append(self.backbone.decode(self.replies[row]))
            self.history[row] += self.replies[row] + next_turns[row]
            self.turn[row] += 1
            self.replies[row] = []
        judge_rewards = np.zeros(self.num_rows, dtype=np.float64)
        judge_failed = np.zeros(self.num_rows, dtype=bool)
        for row, result in judged.items():
            if result.failed:
                judge_failed[row] = True
                judge_rewards[row] = float(config.judge_failure_reward)  # type: ignore[arg-type]  (None raised in _judge)
            else:
                judge_rewards[row] = result.ratio
        rewards = judge_rewards - config.step_penalty - np.where(cut, config.truncation_penalty, 0.0)
        rewards[idle] = 0.0
        terminated = reply_done.copy()
        terminated[going_on] = False
        return StepResult(tokens_np, self.embeddings, rewards, terminated, cut, judged, judge_failed, judge_rewards,
                          reply_done, finished, idle)

    def _next_turns(self, rows: list[int], tokens: np.ndarray) -> tuple[dict[int, list[int]], dict[int, str]]:
        """For dialogue rows whose reply ends with ``tokens``: the token ids to append (the reply's end of turn, the
        user's next turn and the assistant prompt), and the simulated user's turns among them. Changes nothing.

        Raises:
            Exception: whatever the simulated user raised (the rows it concerns are broken).
        """
        ids: dict[int, list[int]] = {}
        simulated: dict[int, str] = {}
        for row in rows:
            index, k = int(self.sample_index[row]), int(self.turn[row])
            reply_ids = self.replies[row] + [int(tokens[row])]
            reply = self.backbone.decode(reply_ids)
            extra = list(self.simulated[row])
            if k + 1 >= len(self.setup.scripts[index]) + len(extra):  # type: ignore[index]  (dialogue rows only)
                sample = self.turn_sample(row)
                seed = zlib.crc32(f"{self.setup.config.data_seed}/{sample.id}".encode())
                try:
                    simulated[row] = self.setup.user.next_turn(sample, reply, seed)
                except BaseException as exc:
                    self._break([row], exc)
                    raise
                extra.append(simulated[row])
            before = self._context(index, k, self.own_replies[row], self.simulated[row])
            after = self._context(index, k + 1, self.own_replies[row] + [reply], extra)
            ids[row] = self.backbone.continuation_ids(before, after, reply_ids)
        return ids, simulated

    def _judge(self, rows: list[int], tokens: np.ndarray) -> dict[int, JudgeResult]:
        """The judge's verdicts on the replies ``rows`` finish with ``tokens`` (checked: see ``check_results``).

        Raises:
            JudgeError: if a verdict failed and ``judge_failure_reward`` is ``None`` (the failed rows are broken).
            Exception: whatever the judge raised (every row of ``rows`` is broken).
        """
        reward = self.setup.reward
        if reward is None:
            raise RuntimeError("this batch has no judge (Setup.for_decoding); write replies with write_replies()")
        samples = [self.turn_sample(r) for r in rows]
        texts = [self.backbone.decode(self.replies[r] + [int(tokens[r])]) for r in rows]
        try:
            results = check_results(reward.score(samples, texts), len(rows))
        except BaseException as exc:
            self._break(rows, exc)
            raise
        judged = dict(zip(rows, results))
        failed = [r for r in rows if judged[r].failed]
        if not failed:
            return judged
        self.judge_failures += len(failed)
        fallback = self.setup.config.judge_failure_reward
        if fallback is None:
            what = "; ".join(f"sample {self.turn_sample(r).id!r}: {judged[r].error}" for r in failed)
            error = JudgeError(
                f"the judge failed ({what}); fix the judge, or pass judge_failure_reward=<float> to give such replies "
                "a fixed reward, flagged in info['judge_failed']. Call reset() before stepping on"
            )
            self._break(failed, error)
            raise error
        for r in failed:
            logger.warning("judge failed on sample %s (%s); reward %s (failure %d)", self.turn_sample(r).id,
                           judged[r].error, fallback, self.judge_failures)
        return judged
