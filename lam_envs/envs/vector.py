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
from lam_envs.envs.config import ConversationConfig, check_action_kind, check_task
from lam_envs.envs.conversation import SEED_HIGH
from lam_envs.envs.core import ReplyBatch, Setup
from lam_envs.envs.spaces import embedding_observations, observation_space, reset_info, row_observation, step_info

logger = logging.getLogger(__name__)


class ConversationVectorEnv(VectorEnv):
    """N copies of :class:`~lam_envs.envs.conversation.ConversationEnv` stepped as one batch.

    Same dynamics, spaces, rewards and ``info`` keys as the single env (see its docstring); per step, one
    world-model read-out and one backbone step serve all N rows, and finished rows are restarted in place by
    splicing freshly prefilled rows into the shared KV cache.

    Autoreset is *same-step* (``metadata["autoreset_mode"] == AutoresetMode.SAME_STEP``): when row i finishes, the
    returned observation is already the next episode's first one; the last observation and info of the finished
    episode are in ``infos["final_obs"][i]`` and ``infos["final_info"]`` (masked by ``infos["_final_obs"]``).

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
        if num_envs <= 0:
            raise ValueError(f"num_envs={num_envs} must be positive")
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

    # ------------------------------------------------------------------------------------------------ helpers
    def _seed_rows(self, seed: int | Sequence[int | None] | None) -> None:
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs; pass one seed per env or an int")
        self.row_rngs = [seeding.np_random(s)[0] for s in seeds]
        self._np_random = self.row_rngs[0]

    def _restart(self, rows: Sequence[int], pinned: Sequence[int | None]) -> None:
        indices, decode_seeds = [], []
        for row, pin in zip(rows, pinned, strict=True):
            rng = self.row_rngs[row]
            indices.append(self.batch.draw_index(rng, pin))
            decode_seeds.append(int(rng.integers(SEED_HIGH)))
        self.batch.begin(rows, indices, decode_seeds)

    def _observations(self) -> Any:
        if self.config.observation == "embedding":
            return embedding_observations(self.batch)
        out = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(
            self.single_observation_space, [row_observation(self.batch, r) for r in range(self.num_envs)], out
        )

    # ------------------------------------------------------------------------------------------------ VectorEnv API
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start a new reply in every row.

        Args:
            seed: An int (row i gets ``seed + i``), one seed per row, or ``None``.
            options: ``{"sample_index": i}`` pins every row to sample i (e.g. a GRPO group); a sequence pins each
                row to its own.

        Returns:
            The batched first observations and infos.
        """
        if seed is not None or not self._started:
            self._seed_rows(seed)
        pinned = (options or {}).get("sample_index")
        if pinned is None or isinstance(pinned, (int, np.integer)):
            pins: list[int | None] = [None if pinned is None else int(pinned)] * self.num_envs
        else:
            pins = [int(p) for p in pinned]
            if len(pins) != self.num_envs:
                raise ValueError(f"options['sample_index'] has {len(pins)} entries for {self.num_envs} envs")
        self._restart(range(self.num_envs), pins)
        self._started = True
        infos: dict[str, Any] = {}
        for row in range(self.num_envs):
            infos = self._add_info(infos, reset_info(self.batch, row), row)
        return self._observations(), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Emit one token per row; finished rows are judged and restarted in the same step.

        Raises:
            RuntimeError: if called before ``reset``.
        """
        if not self._started:
            raise RuntimeError("call reset() before step()")
        result = self.batch.step(np.asarray(actions))
        done = np.flatnonzero(result.terminated | result.truncated).tolist()
        infos: dict[str, Any] = {}
        finals: dict[int, tuple[Any, dict[str, Any]]] = {}
        for row in range(self.num_envs):
            info = step_info(self.batch, row, result)
            if row in result.judged:
                finals[row] = (row_observation(self.batch, row), info)
            else:
                infos = self._add_info(infos, info, row)
        if done:
            self._restart(done, [None] * len(done))
            for row in done:
                final_obs, final_info = finals[row]
                infos = self._add_info(infos, {"final_obs": final_obs, "final_info": final_info}, row)
                infos = self._add_info(infos, reset_info(self.batch, row), row)
        return (
            self._observations(),
            result.rewards.copy(),
            result.terminated.copy(),
            result.truncated.copy(),
            infos,
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
