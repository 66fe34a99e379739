"""Fair starts: SB3 policies whose action logits begin at the pretrained behaviour, and a KL penalty toward it.

Both action spaces should start RL from comparable replies, so the policy's action head starts as the behaviour the
frozen models already have over the same observation h_t:

* latent envs: the latent model's **policy prior** ``prior_logits(h)`` over the K codes;
* token envs: the backbone's own **LM head** over the V tokens (``lm_head(h)``; h is already final-normed).

How (exactly): a fair-start policy computes its action logits as ``start(obs) + residual(latent_pi)``, where
``start`` is a frozen copy of that head (its weights are copied from the env's models and saved with the policy) and
``residual`` is SB3's usual trainable linear action head over the MLP latent, initialised to **zero** (weight and bias).
At step 0 the policy is therefore exactly the pretrained behaviour, and everything RL learns is a residual on top.
With ``start_lr_scale > 0`` (a policy keyword) the start head itself is fine-tuned as well, as RLHF fine-tunes the
pretrained policy rather than a fresh head beside it: each of its weights becomes ``w0 + start_lr_scale * delta``
with ``w0`` frozen and ``delta`` trainable from zero. Under Adam a step moves ``delta`` by about the learning rate,
so the pretrained weights move ``start_lr_scale`` times slower than the fresh head (they need far smaller steps:
at the fresh head's 1e-3, fine-tuning the prior pushed PPO's approx_kl to ~0.6), with one optimizer and one
learning-rate schedule. The frozen ``w0`` stays the reference of :meth:`FairStartMixin.start_logits` (the KL
penalty's, and GRPO's).
The MLP is SB3's default; the value head starts at zero (``zero_value_head``, default on), because SB3's
gain-1 value head begins with outputs spread wider than the judged reward itself (explained variance about -1.2 for
the first 20k steps on MMRole-Latent, ``benchmarks/results/learning_probe``), and that noise enters every advantage. The policy classes subclass SB3's ``ActorCriticPolicy`` (PPO, A2C,
TRPO, GRPO) and sb3-contrib's ``MaskableActorCriticPolicy`` (MaskablePPO); the start head is rebuilt from a small
JSON-able spec (``policy_kwargs["start_head"]``), so ``PPO.load`` restores it.

KL penalty: :class:`StartKLPenalty` subtracts ``beta * KL(pi(.|s) || start(.|s))`` (exact, over the whole action
distribution, from the observation alone) from every step's reward of an on-policy rollout before the advantages are
computed, as in RLHF's per-token KL reward. GRPO instead puts a k3 KL estimator in its loss (see
:mod:`lam_agents.grpo`).
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, cast

import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.utils import obs_as_tensor
from torch import nn

from lam_agents.algos import AlgoSpec, algo_spec
from lam_agents.envs import inner_env
from lam_envs.envs.setup import EnvParts

logger = logging.getLogger(__name__)


def start_head_spec(parts: EnvParts) -> dict[str, Any]:
    """The JSON-able description of the start head for the env behind ``parts`` (see the module docstring)."""
    d = int(parts.backbone.hidden_size)
    if parts.world_model is not None:
        config = parts.world_model.config
        return {"kind": "prior", "hidden_size": d, "num_codes": int(config.num_codes),
                "width": int(config.prior_width), "blocks": int(config.prior_blocks)}
    head = parts.backbone.model.get_output_embeddings()
    return {"kind": "lm_head", "hidden_size": d, "vocab_size": int(parts.backbone.vocab_size),
            "bias": head.bias is not None}


def build_start_head(spec: dict[str, Any]) -> nn.Module:
    """An untrained module of the shape ``spec`` describes (weights come from :func:`load_start_weights`).

    Raises:
        ValueError: for an unknown ``kind``.
    """
    if spec.get("kind") == "prior":
        from lam_envs.latent.prior import PolicyPrior

        return PolicyPrior(spec["hidden_size"], spec["num_codes"], spec["width"], spec["blocks"])
    if spec.get("kind") == "lm_head":
        return nn.Linear(spec["hidden_size"], spec["vocab_size"], bias=bool(spec.get("bias", False)))
    raise ValueError(f"start_head kind {spec.get('kind')!r}; expected 'prior' (latent envs) or 'lm_head' (token)")


def start_state_dict(parts: EnvParts) -> dict[str, torch.Tensor]:
    """The frozen weights of the start head: the latent model's prior, or the backbone's LM head (float32, CPU)."""
    if parts.world_model is not None:
        source = getattr(parts.world_model, "prior", None)
        if not isinstance(source, nn.Module):
            raise TypeError(f"{type(parts.world_model).__name__} has no policy prior module (.prior) to start from; "
                            "use a LatentActionModel, or train without --fair-start")
    else:
        source = parts.backbone.model.get_output_embeddings()
    return {k: v.detach().float().cpu().clone() for k, v in source.state_dict().items()}


class _ActorWithObservation(nn.Module):
    """SB3's ``MlpExtractor`` whose actor output also carries the observation: ``[latent_pi; obs]``.

    With SB3's default ``FlattenExtractor`` the features *are* the observation h_t, so the action head can read it
    beside the MLP's latent without any per-call state.
    """

    def __init__(self, mlp: nn.Module, obs_dim: int) -> None:
        super().__init__()
        self.mlp = mlp
        self.latent_dim_pi = int(mlp.latent_dim_pi) + obs_dim
        self.latent_dim_vf = int(mlp.latent_dim_vf)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pi, vf = self.mlp(features)
        return torch.cat([pi, features], dim=-1), vf

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.mlp.forward_actor(features), features], dim=-1)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp.forward_critic(features)


def _freeze_as_buffers(module: nn.Module) -> nn.Module:
    """Turn every parameter of ``module`` into a buffer: saved in the state dict, invisible to optimizers and to
    algorithms that differentiate through ``named_parameters()`` (TRPO)."""
    for sub in module.modules():
        for name, param in list(sub.named_parameters(recurse=False)):
            delattr(sub, name)
            sub.register_buffer(name, param.detach())
    return module


class StartPlusResidual(nn.Module):
    """The fair-start action head: ``start(obs) + residual(latent_pi)`` with ``residual`` initialised to zero.

    Args:
        latent_dim: Width of the MLP's actor latent.
        num_actions: Size of the action space.
        start: The start head (prior or LM head); its weights are frozen here.
        hidden_size: d, the width of h_t at the front of the observation.
        start_lr_scale: 0 keeps the start head frozen; above 0 it is fine-tuned, each weight ``w0 + scale * delta``
            with ``delta`` trainable from zero (:attr:`start_delta`), and ``start`` stays the frozen reference.
    """

    def __init__(self, latent_dim: int, num_actions: int, start: nn.Module, hidden_size: int,
                 start_lr_scale: float = 0.0) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.hidden_size = hidden_size
        self.residual = nn.Linear(latent_dim, num_actions)
        nn.init.zeros_(self.residual.weight)
        nn.init.zeros_(self.residual.bias)
        self.start = _freeze_as_buffers(start)
        self.start_lr_scale = float(start_lr_scale)
        self.start_delta = None if start_lr_scale == 0 else nn.ParameterDict(
            {_delta_key(name): nn.Parameter(torch.zeros_like(w)) for name, w in self.start.named_buffers()})
        """Trainable offsets of the start head's weights (``start_lr_scale > 0``), else ``None``."""
        self.num_actions = num_actions
        self.memo_bytes = 64 * 2**20
        """Bound of the start-logit memo (see :meth:`start_logits`) in bytes; 0 turns it off."""

    def start_logits(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, d) observations -> (B, A) logits of the pretrained behaviour (no gradient).

        On the CPU the rows are memoised by content (:attr:`memo_bytes` of logits at most, 64 MiB by default:
        16k rows of 1k actions; least recently used dropped first): the update's epochs read the observations the rollout already ran the frozen head on, so they
        reuse its logits instead of running the head again (on another device it is simply recomputed, as a
        look-up would need the rows on the host).
        """
        # An observation may carry features after h_t (e.g. the env's progress_feature); the start head reads h_t.
        h = obs[..., : self.hidden_size].float()
        with torch.no_grad():
            limit = self.memo_bytes // (4 * self.num_actions)
            if limit <= 0 or h.device.type != "cpu" or h.dim() != 2:
                return self.start(h).float()
            memo: OrderedDict[bytes, torch.Tensor] = self.__dict__.setdefault("_memo", OrderedDict())
            rows = h.detach().contiguous().numpy()
            keys = [row.tobytes() for row in rows]
            found = [memo.get(k) for k in keys]
            missing = [i for i, row in enumerate(found) if row is None]
            if missing:
                fresh = self.start(h[missing]).float()
                for j, i in enumerate(missing):
                    found[i] = memo[keys[i]] = fresh[j].clone()
                while len(memo) > limit:
                    memo.popitem(last=False)
            for k in keys:
                if k in memo:
                    memo.move_to_end(k)
            return torch.stack(cast("list[torch.Tensor]", found))  # every row was found or computed

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__.pop("_memo", None)  # new start weights: the memoised logits are stale
        super()._load_from_state_dict(*args, **kwargs)

    def tuned_logits(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, d) observations -> (B, A) logits of the fine-tuned start head (with gradient to :attr:`start_delta`)."""
        assert self.start_delta is not None  # only called when fine-tuning
        weights = {name: w + self.start_lr_scale * self.start_delta[_delta_key(name)]
                   for name, w in self.start.named_buffers()}
        return torch.func.functional_call(self.start, weights, (obs[..., : self.hidden_size].float(),))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        obs = latent[..., self.latent_dim :]
        start = self.start_logits(obs) if self.start_delta is None else self.tuned_logits(obs)
        return self.residual(latent[..., : self.latent_dim]) + start


def _delta_key(name: str) -> str:
    return name.replace(".", "__")  # ParameterDict keys cannot hold dots


# To the type checker the mixin is the SB3 policy it is mixed into (its attributes and ``super()`` calls are that
# policy's); at run time it is a plain mixin, so that it also fits sb3-contrib's maskable policy.
_PolicyBase = ActorCriticPolicy if TYPE_CHECKING else object


class FairStartMixin(_PolicyBase):
    """Turns an SB3 actor-critic policy into a fair-start one (see the module docstring)."""

    start_head_spec: dict[str, Any] | None
    zero_value_head: bool
    start_lr_scale: float

    def _fair_start_init(self, spec: dict[str, Any] | None, zero_value_head: bool, start_lr_scale: float) -> None:
        # Before nn.Module.__init__ runs (it builds the network through _build_mlp_extractor below).
        if isinstance(start_lr_scale, bool) or not isinstance(start_lr_scale, (int, float)) \
                or not math.isfinite(start_lr_scale) or start_lr_scale < 0:
            raise ValueError(f"start_lr_scale={start_lr_scale!r} must be a finite number >= 0 (0 keeps the start "
                             "head frozen)")
        if start_lr_scale > 0 and spec is None:
            raise ValueError(f"start_lr_scale={start_lr_scale} fine-tunes the start head: the policy needs one "
                             "(a fair start)")
        object.__setattr__(self, "start_head_spec", spec)
        object.__setattr__(self, "zero_value_head", zero_value_head)
        object.__setattr__(self, "start_lr_scale", float(start_lr_scale))

    def _build_mlp_extractor(self) -> None:
        super()._build_mlp_extractor()
        if self.start_head_spec is not None:
            if not isinstance(self.features_extractor, FlattenExtractor):
                raise TypeError("a fair-start policy reads h_t from the features: keep SB3's default FlattenExtractor")
            object.__setattr__(self, "_actor_latent_dim", int(self.mlp_extractor.latent_dim_pi))
            obs_dim = int(self.features_extractor.features_dim)
            self.mlp_extractor = _ActorWithObservation(self.mlp_extractor, obs_dim)  # type: ignore[assignment]

    def _fair_start_build(self, lr_schedule: Any) -> None:
        if self.start_head_spec is None:
            return
        assert isinstance(self.action_space, spaces.Discrete)
        num_actions = int(self.action_space.n)
        self.action_net = StartPlusResidual(self.__dict__["_actor_latent_dim"], num_actions,
                                            build_start_head(self.start_head_spec),
                                            int(self.start_head_spec["hidden_size"]), self.start_lr_scale)
        self.action_net.to(self.device)
        if self.zero_value_head:
            # The judged reward is a ratio in [0, 1] with a spread of about 0.1 between replies, while SB3's value
            # head (orthogonal, gain 1) starts with outputs spread ~5x wider over the observations: its noise would
            # swamp the advantages until it is fit. Starting it at a constant makes the first updates plain
            # REINFORCE with a baseline (advantage normalisation removes the constant).
            for param in self.value_net.parameters():  # weight and bias
                nn.init.zeros_(param)
        # The optimizer was built over the replaced head: rebuild it over the trainable parameters.
        trainable = [p for p in self.parameters() if p.requires_grad]
        self.optimizer = self.optimizer_class(trainable, lr=lr_schedule(1), **self.optimizer_kwargs)

    @property
    def has_start(self) -> bool:
        """Whether this policy has a start head."""
        return self.start_head_spec is not None

    def start_logits(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, d) observations -> (B, A) logits of the pretrained behaviour (no gradient)."""
        head = self.action_net
        if not isinstance(head, StartPlusResidual):
            raise TypeError(f"{type(self).__name__} was built without a start head (start_head=None)")
        return head.start_logits(obs)

    def kl_to_start(self, obs: torch.Tensor) -> torch.Tensor:
        """Exact KL(pi(.|s) || start(.|s)) per observation, (B, d) -> (B,)."""
        logits = self.get_distribution(obs).distribution.logits  # type: ignore[union-attr]  (a categorical one)
        log_p = torch.log_softmax(logits, dim=-1)
        log_q = torch.log_softmax(self.start_logits(obs), dim=-1)
        return (log_p.exp() * (log_p - log_q)).sum(dim=-1)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["start_head"] = self.start_head_spec
        data["zero_value_head"] = self.zero_value_head
        data["start_lr_scale"] = self.start_lr_scale
        return data


class FairStartPolicy(FairStartMixin, ActorCriticPolicy):
    """SB3 ``MlpPolicy`` with a frozen start head (PPO, A2C, TRPO, GRPO).

    Args:
        observation_space: The env's (flat Box) observation space.
        action_space: The env's ``Discrete`` action space.
        lr_schedule: SB3's learning-rate schedule.
        start_head: The spec from :func:`start_head_spec`; ``None`` gives a plain ``MlpPolicy``.
        zero_value_head: Start the value head at zero (weight and bias), so the critic's initial noise does not
            enter the advantages (fair-start policies only).
        start_lr_scale: Fine-tune the start head too, its weights moving this many times slower than the rest (0:
            frozen; see the module docstring).
        **kwargs: ``ActorCriticPolicy``'s keywords.
    """

    def __init__(self, observation_space: Any, action_space: Any, lr_schedule: Any,
                 start_head: dict[str, Any] | None = None, zero_value_head: bool = True, start_lr_scale: float = 0.0,
                 **kwargs: Any) -> None:
        self._fair_start_init(start_head, zero_value_head and start_head is not None, start_lr_scale)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
        self._fair_start_build(lr_schedule)


class MaskableFairStartPolicy(FairStartMixin, MaskableActorCriticPolicy):  # type: ignore[misc]
    """sb3-contrib's maskable ``MlpPolicy`` with a frozen start head (MaskablePPO); masks apply after the sum."""

    def __init__(self, observation_space: Any, action_space: Any, lr_schedule: Any,
                 start_head: dict[str, Any] | None = None, zero_value_head: bool = True, start_lr_scale: float = 0.0,
                 **kwargs: Any) -> None:
        self._fair_start_init(start_head, zero_value_head and start_head is not None, start_lr_scale)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
        self._fair_start_build(lr_schedule)


def load_start_weights(policy: nn.Module, parts: EnvParts) -> None:
    """Copy the env's pretrained head into ``policy.start_head``.

    Raises:
        TypeError: if ``policy`` is not a fair-start policy.
        ValueError: if its start head does not fit this env's models.
    """
    if not isinstance(policy, FairStartMixin) or not policy.has_start:
        raise TypeError(f"{type(policy).__name__} has no start head; build the model with a fair-start policy")
    if policy.start_head_spec != start_head_spec(parts):
        raise ValueError(
            f"the policy's start head {policy.start_head_spec} does not fit this env ({start_head_spec(parts)}); "
            "train a new model for this env"
        )
    policy.action_net.start.load_state_dict(start_state_dict(parts))
    logger.info("fair start: policy action logits start at the %s", policy.start_head_spec["kind"])


def fair_start_model(algo: str | AlgoSpec, env: Any, policy_kwargs: dict[str, Any] | None = None,
                     **algo_kwargs: Any) -> Any:
    """The algorithm on ``env`` with a fair-start policy that already holds the env's pretrained head: one step for
    the policy class (maskable where ``AlgoSpec.masked``), its start-head spec and its frozen weights.

    Args:
        algo: An algorithm with ``AlgoSpec.fair_start`` (name or spec).
        env: A vector env from :func:`lam_agents.envs.make_vec_env`.
        policy_kwargs: More policy keywords (``net_arch``, ``zero_value_head``, ...).
        **algo_kwargs: The algorithm's constructor keywords.

    Raises:
        ValueError: if the algorithm has no fair start.
    """
    spec = algo_spec(algo) if isinstance(algo, str) else algo
    if not spec.fair_start:
        raise ValueError(f"{spec.name} has no fair start; use one of the algorithms whose AlgoSpec has fair_start")
    parts = inner_env(env).parts
    policy = MaskableFairStartPolicy if spec.masked else FairStartPolicy
    kwargs = {**(policy_kwargs or {}), "start_head": start_head_spec(parts)}
    model = spec.load_class()(policy, env, policy_kwargs=kwargs, **algo_kwargs)
    load_start_weights(model.policy, parts)
    return model


class StartKLPenalty(BaseCallback):
    """Subtract ``beta * KL(pi || start)`` from each step's reward of an on-policy rollout, then redo advantages.

    Works with PPO, A2C, TRPO and MaskablePPO on a fair-start policy (the KL is computed from the stored
    observations alone). The mean KL is logged as ``fair_start/kl``.

    Args:
        beta: Penalty weight (> 0).
    """

    def __init__(self, beta: float, verbose: int = 0) -> None:
        super().__init__(verbose)
        if not beta > 0:
            raise ValueError(f"kl beta={beta} must be > 0 (leave the penalty out for no KL)")
        self.beta = beta

    def _on_training_start(self) -> None:
        if not isinstance(self.model.policy, FairStartMixin) or not self.model.policy.has_start:
            raise TypeError("a KL penalty toward the start needs a fair-start policy; pass --fair-start too")
        if not hasattr(self.model, "rollout_buffer"):
            raise TypeError(f"{type(self.model).__name__} has no rollout buffer; the KL penalty is for on-policy algos")

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        model = self.model
        buffer = model.rollout_buffer
        policy = model.policy
        n_steps, n_envs = buffer.rewards.shape
        obs = torch.as_tensor(buffer.observations.reshape(n_steps * n_envs, -1), device=policy.device)
        with torch.no_grad():
            kl = policy.kl_to_start(obs).reshape(n_steps, n_envs).cpu().numpy()
            last_values = policy.predict_values(obs_as_tensor(model._last_obs, policy.device))
        buffer.rewards -= self.beta * kl
        # Recompute returns and advantages with the penalised rewards (the algorithm did it before this hook).
        buffer.compute_returns_and_advantage(last_values=last_values, dones=model._last_episode_starts)
        self.logger.record("fair_start/kl", float(kl.mean()))
