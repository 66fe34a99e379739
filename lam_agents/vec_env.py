"""The batched conversation env as a Stable-Baselines3 ``VecEnv`` (it lives in lam_agents because lam_envs never
imports SB3).

SB3 does not accept Gymnasium vector envs, so :class:`ConversationVecEnv` adapts a
:class:`~lam_envs.envs.vector.ConversationVectorEnv`: SB3's list of per-env ``info`` dicts, its
``terminal_observation`` and ``TimeLimit.truncated`` keys, and ``env_method("action_masks")`` for sb3-contrib's
MaskablePPO. Agents read the env through ``task``, ``action_kind``, ``num_envs``, ``num_samples``,
``max_reply_tokens`` and ``parts`` (the same names as the Gymnasium vector env and the Ray facade)::

    venv = ConversationVecEnv.make("lam/MMRole-Latent-v0", num_envs=32)
    model = PPO("MlpPolicy", venv, n_steps=64).learn(10_000)
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from lam_envs.envs.setup import EnvParts
from lam_envs.envs.vector import ConversationVectorEnv


def row_info(infos: dict[str, Any], row: int) -> dict[str, Any]:
    """Row ``row``'s entries of a Gymnasium vector ``infos`` dict (keys whose ``_key`` mask is set for the row)."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        if isinstance(value, dict):
            sub = row_info(value, row)
            if sub:
                out[key] = sub
        elif mask is None or bool(mask[row]):
            item = value[row]
            out[key] = item.item() if isinstance(item, np.generic) else item
    return out


class ConversationVecEnv(VecEnv):
    """A :class:`ConversationVectorEnv` behind SB3's ``VecEnv`` interface.

    Args:
        venv: The batched env (its autoreset is same-step, which is SB3's convention too).
    """

    def __init__(self, venv: ConversationVectorEnv) -> None:
        self.venv = venv
        self._actions: np.ndarray | None = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)

    # ------------------------------------------------------------------------------------------------ for agents
    @property
    def task(self) -> str:
        """The task's registry name."""
        return self.venv.task

    @property
    def action_kind(self) -> str:
        """``"latent"`` or ``"token"``."""
        return self.venv.action_kind

    @property
    def num_samples(self) -> int:
        """The number of prompts the env draws from (``set_options([{"sample_index": i}, ...])`` pins them)."""
        return self.venv.num_samples

    @property
    def max_reply_tokens(self) -> int:
        """The reply limit."""
        return self.venv.max_reply_tokens

    @property
    def parts(self) -> EnvParts:
        """The frozen backbone, world model and samples behind the env (see :class:`~lam_envs.envs.setup.EnvParts`)."""
        return self.venv.parts

    @classmethod
    def make(cls, env_id: str, num_envs: int, **kwargs: Any) -> ConversationVecEnv:
        """Build the batched env of a registered id (``gym.make_vec(..., vectorization_mode="vector_entry_point")``)
        and wrap it."""
        venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
        return cls(venv.unwrapped)  # type: ignore[arg-type]

    # ------------------------------------------------------------------------------------------------ stepping
    def set_seeds(self, seeds: Sequence[int | None]) -> None:
        """Seed each row's next reset with its own seed, where SB3's ``seed(s)`` gives row i ``s + i``: how a facade
        over several of these envs (:mod:`lam_agents.ray_workers`) passes on the seeds of its rows. Like ``seed``, it
        takes effect at the next :meth:`reset`; all ``None`` seeds nothing (the rows keep their generators).

        Raises:
            ValueError: unless there is one seed per row.
        """
        if len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs; pass one seed (or None) per env")
        self._seeds = list(seeds)

    def reset(self) -> VecEnvObs:
        """Reset every row, with the seeds and options set since the last reset.

        ``set_options`` takes one dict per row: ``sample_index`` pins the rows (all of them, or none), and
        ``autoreset`` (the same for every row) turns the batched env's autoreset off until the next reset (see
        :class:`~lam_envs.envs.vector.ConversationVectorEnv`).

        Raises:
            ValueError: if the rows' ``autoreset`` options differ.
        """
        seeds = self._seeds if any(s is not None for s in self._seeds) else None
        pins = [o.get("sample_index") for o in self._options]
        options: dict[str, Any] = {"sample_index": pins} if all(p is not None for p in pins) else {}
        autoreset = {o.get("autoreset", True) for o in self._options}
        if len(autoreset) > 1:
            raise ValueError(f"set_options gave rows different 'autoreset' values {sorted(map(str, autoreset))}; "
                             "the rows share one batched env: give every row the same")
        if autoreset != {True}:
            options["autoreset"] = autoreset.pop()
        obs, infos = self.venv.reset(seed=seeds, options=options or None)
        self.reset_infos = [row_info(infos, r) for r in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Take one action per env for the next ``step_wait``.

        Raises:
            ValueError: unless ``actions`` is an integer array of shape ``(num_envs,)`` (checked here, so that a
                policy with the wrong output shape fails at the call that passed it).
        """
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"actions of shape {actions.shape} and dtype {actions.dtype}; a ConversationVecEnv takes an integer "
                f"array of shape ({self.num_envs},), one Discrete({self.action_space.n}) action per env"
            )
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(); call step(actions)")
        # The rows' own info dicts (step_rows), not Gymnasium's batched infos split again per row.
        obs, rewards, terminated, truncated, rows = self.venv.step_rows(self._actions)
        self._actions = None
        dones = terminated | truncated
        out: list[dict[str, Any]] = []
        for row, record in enumerate(rows):
            if dones[row]:
                info = dict(record["final_info"])
                if "reset_error" in record:
                    # The next episode could not start: the row is broken until reset (see ConversationVectorEnv).
                    info["reset_error"] = record["reset_error"]
                info["terminal_observation"] = record["final_obs"]
                info["TimeLimit.truncated"] = bool(truncated[row] and not terminated[row])
                self.reset_infos[row] = {k: v for k, v in record.items() if not k.startswith("final")}
            else:
                info = record
            out.append(info)
        return obs, rewards.astype(np.float32), dones, out

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The env's rows (see :meth:`ConversationVectorEnv.get_state`) plus pending seeds and options, as JSON-able
        values and arrays (none yet): what a resumable checkpoint keeps of the env."""
        return {"venv": self.venv.get_state(), "seeds": list(self._seeds), "options": list(self._options),
                "reset_infos": self.reset_infos}, {}

    def set_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`get_state` returned, on an env built with the same keywords."""
        self.venv.set_state(state["venv"])
        self._seeds = list(state["seeds"])
        self._options = [dict(o) for o in state["options"]]
        self.reset_infos = list(state["reset_infos"])

    def close(self) -> None:
        self.venv.close()

    # ------------------------------------------------------------------------------------------------ attributes
    def _rows(self, indices: VecEnvIndices) -> list[int]:
        return list(self._get_indices(indices))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The batched env's attribute, once per requested row (all rows share one env)."""
        value = getattr(self.venv, attr_name)
        return [value for _ in self._rows(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the batched env (shared by every row, so ``indices`` must cover all rows).

        Raises:
            ValueError: if only some rows are named.
        """
        if sorted(self._rows(indices)) != list(range(self.num_envs)):
            raise ValueError(f"rows share one batched env; set {attr_name!r} for all rows (indices=None)")
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        """Call a method per row. ``action_masks`` returns each row's mask; another method of the batched env is
        called once and its result given to every requested row."""
        rows = self._rows(indices)
        if method_name == "action_masks":
            masks = self.venv.action_masks()
            return [masks[r] for r in rows]
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in rows]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._rows(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.venv.render_mode != "rgb_array":
            return [None for _ in range(self.num_envs)]
        frames: Iterable[np.ndarray] = self.venv.render() or ()
        return list(frames)
