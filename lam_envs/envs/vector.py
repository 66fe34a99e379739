"""The batched conversation env: N replies decoded together, one backbone call per step, same-step autoreset.

:class:`ConversationVectorEnv` is a Gymnasium ``VectorEnv`` (``gym.make_vec(id, num_envs=N)`` builds it through
the registered ``vector_entry_point``); :class:`lam_envs.envs.sb3.ConversationVecEnv` wraps it as a
Stable-Baselines3 ``VecEnv``. Row i seeded with ``seed + i`` replays ``gym.make(id)`` seeded with ``seed + i``.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from lam_envs.envs import render as rendering
from lam_envs.envs.config import ConversationConfig, Int, check_action_kind, check_task
from lam_envs.envs.conversation import SEED_HIGH, check_options
from lam_envs.envs.dynamics import ReplyBatch, generator_from_state
from lam_envs.envs.setup import AgentSurface, Setup
from lam_envs.envs.spaces import embedding_observations, observation_space, reset_info, row_observation, step_info

logger = logging.getLogger(__name__)

RESET_OPTIONS = ("sample_index", "reset_mask", "autoreset")


def pinned_decode_seed(seed: int | None) -> int:
    """The decode seed of the first episode of a row seeded ``seed`` on a pinned sample (``options["sample_index"]``
    draws nothing), as :meth:`ConversationVectorEnv._restart` draws it: what a chat reply answers with to write that
    episode's reply (``None``: fresh entropy)."""
    return int(seeding.np_random(seed)[0].integers(SEED_HIGH))


def batch_observations(batch: ReplyBatch, single_space: spaces.Space) -> Any:
    """The batched observations of ``batch``'s rows in ``single_space`` (the env's ``observation_space(setup)``)."""
    if batch.setup.config.observation == "embedding":
        return embedding_observations(batch)
    out = create_empty_array(single_space, batch.num_rows)
    return concatenate(single_space, [row_observation(batch, r) for r in range(batch.num_rows)], out)


class ConversationVectorEnv(AgentSurface, VectorEnv):
    """N copies of :class:`~lam_envs.envs.conversation.ConversationEnv` stepped as one batch.

    Same dynamics, spaces, rewards and ``info`` keys as the single env (see its docstring); per step, one
    world-model read-out and one backbone step serve all N rows, and finished rows are restarted in place by
    splicing freshly prefilled rows into the shared KV cache.

    Autoreset is *same-step* (``metadata["autoreset_mode"] == AutoresetMode.SAME_STEP``): when row i finishes, the
    returned observation is already the next episode's first one; the last observation and info of the finished
    episode are in ``infos["final_obs"][i]`` and ``infos["final_info"]`` (masked by ``infos["_final_obs"]``).
    ``reset(options={"reset_mask": mask})`` restarts only the rows where ``mask`` (a (N,) bool array) is set.

    ``reset(options={"autoreset": False})`` turns autoreset off until the next ``reset``: a row whose episode ends
    then *waits* instead of starting a new one. Its observation stays the final one, its later steps change nothing
    and return reward 0, ``terminated`` False and ``info["idle"]`` True, and only a ``reset`` (of every row, or of
    it by ``reset_mask``) starts it again. For callers that ignore a row after its episode (a GRPO group writing one
    reply per row, an evaluation), this saves the prefill, image and judge of episodes that would be thrown away;
    the rows' episodes and random draws are those of autoreset, less the discarded ones.

    Faults stay in their row. If row i's next episode cannot start (e.g. its image fails to load), the step still
    returns every row's results: row i's observation is its final one and ``infos["reset_error"][i]`` says why. Row
    i is then *broken*, as is a row a ``JudgeError`` or another exception inside ``step`` interrupted: nothing of it
    changed half-way, and ``step`` raises ``RuntimeError`` naming the broken rows until they are reset
    (``reset()``, or ``reset(options={"reset_mask": mask})`` for those rows only; the others continue their
    episodes). An exception in the shared backbone step breaks every row.

    What agents read of it: ``task``, ``action_kind``, ``num_envs``, ``num_samples``, ``max_reply_tokens`` and
    ``parts`` (the frozen backbone, world model and samples, an :class:`~lam_envs.envs.setup.EnvParts`); the SB3 and
    Ray adapters of ``lam_agents`` offer the same names.

    Args:
        num_envs: N, the number of rows.
        task: ``"mmrole"`` or ``"pcogalign"``.
        action_space: ``"latent"`` or ``"token"``.
        render_mode: ``None``, ``"ansi"`` or ``"rgb_array"`` (``render()`` returns one rendering per row).
        **kwargs: Fields of :class:`~lam_envs.envs.config.ConversationConfig`.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4, "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        task: str = "mmrole",
        action_space: str = "latent",
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        num_envs = Int(low=1)("num_envs", num_envs)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r}; expected None or one of {self.metadata['render_modes']}")
        self.task = check_task(task)
        self.action_kind = check_action_kind(action_space)
        self.render_mode = render_mode
        self.num_envs = num_envs
        self.config = ConversationConfig(**kwargs)
        self.setup = Setup.build(self.task, self.action_kind, self.config)
        self.batch = ReplyBatch(self.setup, num_envs)
        self.single_action_space = spaces.Discrete(self.setup.num_actions)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.single_observation_space = observation_space(self.setup)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.row_rngs: list[np.random.Generator] = [seeding.np_random(None)[0] for _ in range(num_envs)]
        self._started = False
        self.autoreset = True
        """Whether a finished row starts its next episode in the same step (set by each ``reset``'s options)."""

    # ------------------------------------------------------------------------------------------------ helpers
    def _seed_rows(self, seed: int | Sequence[int | None] | None, rows: list[int]) -> None:
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs; pass one seed per env or an int")
        for row in rows:
            self.row_rngs[row] = seeding.np_random(seeds[row])[0]
        self._np_random = self.row_rngs[0]

    def _restart(
        self, rows: Sequence[int], pinned: Sequence[int | None], *, skip_failed: bool = False
    ) -> dict[int, BaseException]:
        indices, decode_seeds = [], []
        for row, pin in zip(rows, pinned, strict=True):
            rng = self.row_rngs[row]
            indices.append(self.batch.draw_index(rng, pin))
            decode_seeds.append(int(rng.integers(SEED_HIGH)))
        return self.batch.begin(rows, indices, decode_seeds, skip_failed=skip_failed)

    def _reset_rows(self, mask: Any) -> list[int]:
        if mask is None:
            return list(range(self.num_envs))
        if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != (self.num_envs,):
            raise ValueError(
                f"options['reset_mask']={mask!r} must be a bool NumPy array of shape ({self.num_envs},), True for the "
                "rows to reset"
            )
        if not mask.any():
            raise ValueError("options['reset_mask'] selects no row; set it True for at least one row")
        if not self._started:
            raise RuntimeError("reset() every row once (without reset_mask) before resetting some of them")
        return np.flatnonzero(mask).tolist()

    def get_state(self) -> dict[str, Any]:
        """Every row's episode and episode-drawing generator, JSON-able (for resumable training checkpoints).

        ``set_state`` on an env built with the same keywords continues each row exactly where it was: the next
        step gives the same tokens and rewards, with observations equal up to float rounding (the decode state is
        re-prefilled).
        """
        return {"started": self._started, "row_rngs": [rng.bit_generator.state for rng in self.row_rngs],
                "autoreset": self.autoreset, "batch": self.batch.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned.

        Raises:
            ValueError: if the state is for another number of rows.
        """
        if len(state["row_rngs"]) != self.num_envs:
            raise ValueError(f"the saved state has {len(state['row_rngs'])} rows; this env has {self.num_envs}")
        self.row_rngs = [generator_from_state(saved) for saved in state["row_rngs"]]
        self._np_random = self.row_rngs[0]
        self.batch.set_state(state["batch"])
        self._started = bool(state["started"])
        self.autoreset = bool(state.get("autoreset", True))

    def observations(self) -> Any:
        """Every row's current observation, batched: what the last ``reset`` or ``step`` returned (a facade that
        resets only some of its envs reads the others' here, see ``lam_agents.ray_workers``).

        Raises:
            RuntimeError: before the first ``reset``.
        """
        if not self._started:
            raise RuntimeError("call reset() before observations()")
        return batch_observations(self.batch, self.single_observation_space)

    # ------------------------------------------------------------------------------------------------ VectorEnv API
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start a new reply in every row.

        Args:
            seed: An int (row i gets ``seed + i``), one seed per row, or ``None``.
            options: ``{"sample_index": i}`` pins every row to sample i (e.g. a GRPO group); a sequence pins each
                row to its own. ``{"reset_mask": mask}`` resets only the rows where the (N,) bool array is True
                (the others keep their episodes; infos cover the reset rows). ``{"autoreset": False}`` lets rows
                that finish wait until the next reset (see the class docstring); every reset without it turns
                autoreset back on.

        Returns:
            The batched first observations and infos.

        Raises:
            ValueError: for an unknown option, a bad mask or a sample index out of range.
            Exception: whatever building a row's first context raised (e.g. ``ImageLoadError``); the rows being
                reset are then broken until a reset succeeds.
        """
        options = check_options(options, RESET_OPTIONS)
        autoreset = options.get("autoreset", True)
        if not isinstance(autoreset, bool):
            raise ValueError(f"options['autoreset']={autoreset!r} must be True or False (False: finished rows wait for "
                             "the next reset instead of starting a new episode)")
        rows = self._reset_rows(options.get("reset_mask"))
        pinned = options.get("sample_index")
        if not isinstance(pinned, (list, tuple, np.ndarray)):
            pins: list[Any] = [pinned] * self.num_envs  # None (draw) or one index for every row, checked when drawn
        else:
            pins = list(pinned)
            if len(pins) != self.num_envs:
                raise ValueError(f"options['sample_index'] has {len(pins)} entries for {self.num_envs} envs")
        if seed is not None or not self._started:
            self._seed_rows(seed, rows)
        self._restart(rows, [pins[r] for r in rows])
        self._started = True
        self.autoreset = autoreset
        return self.observations(), self.batch_infos([(row, reset_info(self.batch, row)) for row in rows])

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Emit one token per row; finished rows are judged and restarted in the same step (or wait, with autoreset
        off).

        Raises:
            RuntimeError: if called before ``reset`` or while a row is broken (the message names the rows).
            ValueError: for actions of the wrong shape, dtype or range (nothing changes).
        """
        obs, rewards, terminated, truncated, rows = self.step_rows(actions)
        order = [row for row in range(self.num_envs) if not terminated[row]] + np.flatnonzero(terminated).tolist()
        return obs, rewards, terminated, truncated, self.batch_infos([(row, rows[row]) for row in order])

    def batch_infos(self, infos: Sequence[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
        """Gymnasium's batched ``infos`` of per-row ``(row, info)`` pairs: what calling ``VectorEnv._add_info`` for
        each pair in turn gives (each key an array over the rows with a ``_key`` mask, the dtype that of the first
        value, ``final_obs`` an object array, dicts batched recursively), built a key at a time instead of a row at a
        time (``_add_info`` allocates a mask per row and key: a share of a 64-row step a bare decode loop does
        without). A test pins the two to each other."""
        by_key: dict[str, list[tuple[int, Any]]] = {}
        for row, info in infos:
            for key, value in info.items():
                by_key.setdefault(key, []).append((row, value))
        out: dict[str, Any] = {}
        for key, values in by_key.items():
            first = values[0][1]
            if key == "final_obs":
                array: Any = np.full(self.num_envs, fill_value=None, dtype=object)
            elif isinstance(first, dict):
                array = self.batch_infos(values)
            elif type(first) in (int, float, bool) or isinstance(first, np.number):
                array = np.zeros(self.num_envs, dtype=type(first))
            elif isinstance(first, np.ndarray):
                array = np.zeros((self.num_envs, *first.shape), dtype=first.dtype)
            else:
                array = np.full(self.num_envs, fill_value=None, dtype=object)
            if not isinstance(first, dict) or key == "final_obs":
                for row, value in values:
                    array[row] = value
            mask = np.zeros(self.num_envs, dtype=np.bool_)
            mask[[row for row, _ in values]] = True
            out[key], out[f"_{key}"] = array, mask
        return out

    def step_rows(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """:meth:`step` with each row's ``info`` as its own dict instead of Gymnasium's batched ``infos``: a row that
        ended holds ``final_obs``, ``final_info`` and its next episode's reset info (or ``reset_error``). For adapters
        that hand per-row infos on (SB3's ``VecEnv``), so that the rows' infos are not batched and split again."""
        if not self._started:
            raise RuntimeError("call reset() before step()")
        broken = self.batch.broken_rows()
        if broken:
            causes = "; ".join(f"row {r}: {self.batch.broken[r]}" for r in broken)
            raise RuntimeError(
                f"rows {broken} stopped at an exception and refuse to step on a half-finished episode ({causes}); "
                f"call reset(), or reset(options={{'reset_mask': mask}}) with mask True for rows {broken} only"
            )
        result = self.batch.step(actions)
        done = np.flatnonzero(result.terminated).tolist()
        rows: list[dict[str, Any]] = []
        for row in range(self.num_envs):
            if result.idle[row]:
                rows.append({"idle": True})
                continue
            info = step_info(self.batch, row, result)
            rows.append({"final_obs": row_observation(self.batch, row), "final_info": info}
                        if result.terminated[row] else info)
        if done and not self.autoreset:
            self.batch.hold(done)
        elif done:
            failed = self._restart(done, [None] * len(done), skip_failed=True)
            for row in done:
                if row in failed:
                    # The episode ended but the next cannot start: report it here, refuse the row's next step.
                    logger.warning("row %d could not start its next episode (%s); reset it", row, failed[row])
                    rows[row]["reset_error"] = self.batch.broken[row]
                else:
                    rows[row].update(reset_info(self.batch, row))
        return (
            self.observations(),
            result.rewards.copy(),
            result.terminated.copy(),
            np.zeros(self.num_envs, dtype=bool),  # nothing in the env truncates: see ConversationEnv
            rows,
        )

    def action_masks(self) -> np.ndarray:
        """(num_envs, num_actions) bool masks (see ``ConversationEnv.action_masks``)."""
        if not self._started:
            raise RuntimeError("call reset() before action_masks()")
        return self.batch.action_masks()

    def render(self) -> tuple[Any, ...] | None:
        """One rendering per row (see ``ConversationEnv.render``)."""
        if self.render_mode is None or not self._started:
            return None
        if self.render_mode == "ansi":
            return tuple(
                rendering.transcript(self.batch.sample(r), self.batch.reply_text(r), finished=False)
                for r in range(self.num_envs)
            )
        return tuple(rendering.frame(self.batch.sample(r), self.batch.reply_text(r)) for r in range(self.num_envs))

    def close_extras(self, **kwargs: Any) -> None:
        """Drop the decode state (the shared backbone stays loaded)."""
        self.batch.state = None
        self._started = False
