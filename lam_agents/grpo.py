"""GRPO in Stable-Baselines3's algorithm API: an example of plugging a new algorithm into lam-gym.

:class:`GRPO` derives from SB3's ``OnPolicyAlgorithm`` and keeps its ``learn`` loop, logger, callbacks, progress bar
and ``save`` / ``load``; it replaces only the two methods that make an algorithm what it is:

* :meth:`GRPO.collect_rollouts` writes **groups** of ``group_size`` replies to the same prompt. The vector env's rows
  are pinned to prompts through reset options (``{"sample_index": i}`` per row), every row writes one reply, and a
  row that finishes early waits: autoreset is off for the group (:func:`lam_agents.envs.pin_rows`), so its later
  steps change nothing and cost no prefill or judge.
* :meth:`GRPO.train` turns each reply's return R into a group-relative advantage, the same for all of its tokens:
  ``(R - mean_group) / (std_group + eps)`` (GRPO, DAPO) or ``R - mean_group`` (Dr.GRPO, which drops the std), and
  minimises the clipped-ratio objective plus ``kl_beta`` times the k3 KL estimator toward the reference policy
  (``exp(q - p) - (q - p) - 1`` with p, q the policy's and the reference's log-probabilities of the taken action).

On a dialogue env (``lam/<Task>-Dialogue-<Kind>-v0``) a group is ``group_size`` whole dialogues about one prompt.
``advantage="episode"`` (default) gives every token of a dialogue the group-relative advantage of the dialogue's
return (the sum of its judged replies); ``advantage="reply"`` compares the replies to the same exchange instead: the
k-th replies of a group are normalised among themselves, and each reply's tokens get its own advantage (credit stays
within the reply). On single-reply envs the two are the same.

The reference is the fair start (a fair-start policy's frozen start head, see :mod:`lam_agents.fair_start`); for a
plain ``MlpPolicy`` it is a frozen copy of the policy as it was when training began. No value function is learned.

Loss normalisation (``loss_type``), with L_i the length of reply i, N the replies of an update and L_max the env's
``max_reply_tokens``: ``"grpo"`` averages tokens within each reply, then replies (weight ``1 / (N L_i)``);
``"dr_grpo"`` sums tokens over a constant ``N L_max`` (no length bias); ``"dapo"`` averages over all tokens of the
update (``1 / sum L_i``). Minibatches are drawn over tokens and each minibatch's loss is scaled so that one epoch's
gradients add up to the full-batch loss.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from lam_agents.envs import inner_env, pin_rows
from lam_agents.fair_start import FairStartMixin, FairStartPolicy

logger = logging.getLogger(__name__)

LossType = Literal["grpo", "dr_grpo", "dapo"]
LOSS_TYPES: tuple[str, ...] = ("grpo", "dr_grpo", "dapo")
AdvantageScope = Literal["episode", "reply"]
ADVANTAGE_SCOPES: tuple[str, ...] = ("episode", "reply")


class GRPO(OnPolicyAlgorithm):
    """Group Relative Policy Optimisation (with Dr.GRPO and DAPO-style loss normalisation) for lam-gym envs.

    Args:
        policy: ``"MlpPolicy"``, ``"FairStartPolicy"`` or an ``ActorCriticPolicy`` subclass.
        env: A vector env over a lam conversation env (``lam_agents.envs.make_vec_env``); ``n_envs`` must be a
            multiple of ``group_size``.
        learning_rate: Adam step size (or schedule).
        group_size: G, replies per prompt.
        groups_per_update: Prompts (groups) collected before each update.
        n_epochs: Passes over the collected tokens per update.
        batch_size: Tokens per minibatch.
        clip_range: PPO-style ratio clip epsilon.
        kl_beta: Weight of the k3 KL toward the reference (0 turns it off).
        loss_type: ``"grpo"``, ``"dr_grpo"`` or ``"dapo"`` (see the module docstring).
        advantage: ``"episode"`` or ``"reply"``: what a group-relative advantage compares on dialogue envs (see the
            module docstring).
        max_grad_norm: Gradient clipping norm.
        advantage_eps: Added to the group std before dividing.
        stats_window_size: Episodes averaged in the rollout logs.
        tensorboard_log: Tensorboard directory (``None``: none).
        policy_kwargs: Keywords of the policy (e.g. ``net_arch``, ``start_head``).
        verbose: SB3 verbosity.
        seed: Seed of the policy, the prompt draws and the minibatches.
        device: Torch device.
        _init_setup_model: Build the policy now (SB3's convention; ``load`` passes ``False``).

    Raises:
        ValueError: for bad settings (each message names the value and the fix).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": ActorCriticPolicy,
        "FairStartPolicy": FairStartPolicy,
    }

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: VecEnv | str,
        learning_rate: float = 3e-4,
        group_size: int = 8,
        groups_per_update: int = 4,
        n_epochs: int = 2,
        batch_size: int = 256,
        clip_range: float = 0.2,
        kl_beta: float = 0.01,
        loss_type: LossType = "grpo",
        advantage: AdvantageScope = "episode",
        max_grad_norm: float = 1.0,
        advantage_eps: float = 1e-4,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        super().__init__(
            policy, env, learning_rate=learning_rate, n_steps=1, gamma=1.0, gae_lambda=1.0, ent_coef=0.0,
            vf_coef=0.0, max_grad_norm=max_grad_norm, use_sde=False, sde_sample_freq=-1,
            stats_window_size=stats_window_size, tensorboard_log=tensorboard_log, policy_kwargs=policy_kwargs,
            verbose=verbose, seed=seed, device=device, _init_setup_model=False,
            supported_action_spaces=(spaces.Discrete,),
        )
        if group_size < 2:
            raise ValueError(f"group_size={group_size}: a group needs at least 2 replies to compare")
        if self.env is not None and self.env.num_envs % group_size:
            raise ValueError(f"n_envs={self.env.num_envs} must be a multiple of group_size={group_size}")
        if loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type={loss_type!r}; expected one of {LOSS_TYPES}")
        if advantage not in ADVANTAGE_SCOPES:
            raise ValueError(f"advantage={advantage!r}; expected one of {ADVANTAGE_SCOPES}")
        if not 0 < clip_range < 1 or kl_beta < 0 or batch_size <= 0 or n_epochs <= 0 or groups_per_update <= 0:
            raise ValueError(
                f"need 0 < clip_range < 1 (got {clip_range}), kl_beta >= 0 ({kl_beta}), positive batch_size "
                f"({batch_size}), n_epochs ({n_epochs}) and groups_per_update ({groups_per_update})"
            )
        self.group_size = group_size
        self.groups_per_update = groups_per_update
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.clip_range = clip_range
        self.kl_beta = kl_beta
        self.loss_type = loss_type
        self.advantage = advantage
        self.advantage_eps = advantage_eps
        self._episodes: list[dict[str, Any]] = []
        self._reference: torch.nn.Module | None = None
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        self._setup_lr_schedule()
        self.set_random_seed(self.seed)
        self._rng = np.random.default_rng(self.seed)
        self.policy = self.policy_class(  # type: ignore[assignment]
            self.observation_space, self.action_space, self.lr_schedule, use_sde=False, **self.policy_kwargs
        )
        self.policy = self.policy.to(self.device)
        self.rollout_buffer = None  # type: ignore[assignment]  # groups are kept as whole replies instead

    def _excluded_save_params(self) -> list[str]:
        return super()._excluded_save_params() + ["_reference", "_episodes"]

    # ------------------------------------------------------------------------------------------------ reference
    def reference_logits(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits of the reference policy (the fair start, or the policy frozen when training began)."""
        if isinstance(self.policy, FairStartMixin) and self.policy.has_start:
            return self.policy.start_logits(obs)
        if self._reference is None:
            self._reference = copy.deepcopy(self.policy).requires_grad_(False)
        with torch.no_grad():
            return self._reference.get_distribution(obs).distribution.logits  # type: ignore[operator]

    # ------------------------------------------------------------------------------------------------ rollouts
    def collect_rollouts(self, env: VecEnv, callback: BaseCallback, rollout_buffer: Any, n_rollout_steps: int) -> bool:
        """Write ``groups_per_update`` groups of ``group_size`` replies (see the module docstring)."""
        n_prompts = inner_env(env).num_samples
        groups_per_reset = env.num_envs // self.group_size
        self.policy.set_training_mode(False)
        self._episodes = []
        callback.on_rollout_start()
        group = 0
        while group < self.groups_per_update:
            prompts = self._rng.integers(n_prompts, size=groups_per_reset)
            pin_rows(env, np.repeat(prompts, self.group_size))
            if not self._write_groups(env, callback, group):
                return False
            group += groups_per_reset
        callback.on_rollout_end()
        return True

    def _write_groups(self, env: VecEnv, callback: BaseCallback, first_group: int) -> bool:
        n = env.num_envs
        obs = env.reset()
        rows: list[dict[str, list]] = [{"obs": [], "actions": [], "logp": [], "ref_logp": [], "reply": []}
                                       for _ in range(n)]
        returns = np.zeros(n)
        reply_returns: list[list[float]] = [[0.0] for _ in range(n)]  # per reply of the episode (dialogue envs)
        active = np.ones(n, dtype=bool)
        while active.any():
            with torch.no_grad():
                obs_t = obs_as_tensor(obs, self.device)
                dist = self.policy.get_distribution(obs_t)
                actions = dist.get_actions()
                logp = dist.log_prob(actions)
                ref_logp = torch.log_softmax(self.reference_logits(obs_t), dim=-1).gather(1, actions[:, None])[:, 0]
            actions_np = actions.cpu().numpy()
            new_obs, rewards, dones, all_infos = env.step(actions_np)
            for row in np.flatnonzero(active):
                rows[row]["obs"].append(obs[row])
                rows[row]["actions"].append(int(actions_np[row]))
                rows[row]["logp"].append(float(logp[row]))
                rows[row]["ref_logp"].append(float(ref_logp[row]))
                rows[row]["reply"].append(len(reply_returns[row]) - 1)
                returns[row] += rewards[row]
                reply_returns[row][-1] += float(rewards[row])
                if all_infos[row].get("reply_done") and not dones[row]:
                    reply_returns[row].append(0.0)  # the dialogue goes on: the next tokens belong to a new reply
            was_active = active.copy()
            active &= ~dones
            self.num_timesteps += int(was_active.sum())
            # Callbacks and episode statistics see only the group's replies, not rows restarted after finishing.
            infos = [info if was_active[r] else {} for r, info in enumerate(all_infos)]
            dones = dones & was_active
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            obs = new_obs
        for row in range(n):
            self._episodes.append(
                {"group": first_group + row // self.group_size, "return": float(returns[row]),
                 "reply_returns": np.asarray(reply_returns[row]), **{k: np.asarray(v) for k, v in rows[row].items()}}
            )
        return True

    # ------------------------------------------------------------------------------------------------ update
    def _normalised(self, values: np.ndarray) -> np.ndarray:
        centred = values - values.mean()
        return centred if self.loss_type == "dr_grpo" else centred / (values.std() + self.advantage_eps)

    def _advantages(self) -> np.ndarray:
        """One group-relative advantage per episode."""
        groups = np.array([e["group"] for e in self._episodes])
        returns = np.array([e["return"] for e in self._episodes])
        adv = np.zeros_like(returns)
        for g in np.unique(groups):
            adv[groups == g] = self._normalised(returns[groups == g])
        return adv

    def _token_advantages(self) -> np.ndarray:
        """Every collected token's advantage, episodes in order (see ``advantage`` in the module docstring)."""
        if self.advantage == "episode":
            lengths = [len(e["actions"]) for e in self._episodes]
            return np.repeat(self._advantages(), lengths)
        per_reply = [np.zeros(len(e["reply_returns"])) for e in self._episodes]
        for g in {e["group"] for e in self._episodes}:
            members = [i for i, e in enumerate(self._episodes) if e["group"] == g]
            for k in range(max(len(per_reply[i]) for i in members)):
                holders = [i for i in members if k < len(per_reply[i])]
                adv = self._normalised(np.array([self._episodes[i]["reply_returns"][k] for i in holders]))
                for i, a in zip(holders, adv):
                    per_reply[i][k] = a
        return np.concatenate([per_reply[i][e["reply"]] for i, e in enumerate(self._episodes)])

    def _token_weights(self, lengths: np.ndarray) -> np.ndarray:
        """Per-token loss weights of each reply under ``loss_type`` (they sum to the full-batch normaliser)."""
        n = len(lengths)
        if self.loss_type == "grpo":
            per_reply = 1.0 / (n * lengths)
        elif self.loss_type == "dr_grpo":
            assert self.env is not None
            max_len = inner_env(self.env).max_reply_tokens
            per_reply = np.full(n, 1.0 / (n * max_len))
        else:
            per_reply = np.full(n, 1.0 / lengths.sum())
        return np.repeat(per_reply, lengths)

    def train(self) -> None:
        """Update the policy on the collected groups (see the module docstring)."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        episodes = self._episodes
        lengths = np.array([len(e["actions"]) for e in episodes])
        cat = lambda key: np.concatenate([e[key] for e in episodes])  # noqa: E731
        device = self.device
        obs = torch.as_tensor(np.concatenate([e["obs"] for e in episodes]), device=device)
        actions = torch.as_tensor(cat("actions"), device=device)
        old_logp = torch.as_tensor(cat("logp"), device=device, dtype=torch.float32)
        ref_logp = torch.as_tensor(cat("ref_logp"), device=device, dtype=torch.float32)
        adv = torch.as_tensor(self._token_advantages(), device=device, dtype=torch.float32)
        weights = torch.as_tensor(self._token_weights(lengths), device=device, dtype=torch.float32)
        n_tokens = len(actions)
        n_batches = int(np.ceil(n_tokens / self.batch_size))
        losses, kls, clipped = [], [], []
        for _ in range(self.n_epochs):
            order = torch.as_tensor(self._rng.permutation(n_tokens), device=device)
            for idx in order.split(self.batch_size):
                logp = self.policy.get_distribution(obs[idx]).log_prob(actions[idx])
                ratio = torch.exp(logp - old_logp[idx])
                surrogate = torch.min(ratio * adv[idx], ratio.clamp(1 - self.clip_range, 1 + self.clip_range) * adv[idx])
                log_r = ref_logp[idx] - logp
                k3 = torch.exp(log_r) - log_r - 1
                loss = (weights[idx] * (-surrogate + self.kl_beta * k3)).sum() * n_batches
                self.policy.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
                losses.append(loss.item())
                kls.append(k3.mean().item())
                clipped.append(((ratio - 1).abs() > self.clip_range).float().mean().item())
        self._n_updates += self.n_epochs
        returns = np.array([e["return"] for e in episodes])
        group_std = [returns[[e["group"] == g for e in episodes]].std() for g in {e["group"] for e in episodes}]
        self.logger.record("train/loss", float(np.mean(losses)))
        self.logger.record("train/kl_k3", float(np.mean(kls)))
        self.logger.record("train/clip_fraction", float(np.mean(clipped)))
        self.logger.record("train/group_return_mean", float(returns.mean()))
        self.logger.record("train/group_return_std", float(np.mean(group_std)))
        self.logger.record("train/zero_std_groups", int(sum(s == 0 for s in group_std)))
        self.logger.record("train/reply_tokens_mean", float(lengths.mean()))
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
