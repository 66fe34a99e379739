"""A trained agent as a chat partner: ``ChatAgent.reply(image, dialogue, persona_or_roleset) -> str``.

The agent writes exactly as it did in its env: the frozen backbone prefills the image and the dialogue, the policy
picks an action from the context embedding h_t at every step, and the action becomes a token (latent runs: the world
model's greedy token for the code; token runs: the action itself) until EOS or the env's reply limit::

    agent = ChatAgent.from_run("runs/ppo_latent")
    print(agent.reply(Image.open("cat.png"), "What do you think of this?", "Captain Mira"))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
import torch
from PIL import Image

from lam_envs.data.images import open_image
from lam_envs.data.types import CharacterProfile, Persona, Sample, Split, Turn, UserProfile
from lam_envs.tasks import task_spec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PilImage:
    """An in-memory image as a sample's image source."""

    image: Image.Image

    def load(self) -> Image.Image:
        return self.image.convert("RGB")


def make_persona(task: str, spec: Persona | str | dict[str, str]) -> Persona:
    """A persona from a profile, or from a short description.

    Args:
        task: a registered task (its entry's ``persona_from_text`` reads the description).
        spec: A ``CharacterProfile`` / ``UserProfile``; for MMRole a character name; for PCogAlign a role set as a
            ``{location: role}`` dict or a ``"home: parent; community: volunteer"`` string (the first location is
            taken as the current one).

    Raises:
        ValueError: for an empty or malformed description, or an unknown task.
    """
    if isinstance(spec, (CharacterProfile, UserProfile)):
        return spec
    return task_spec(task).parse_persona(spec)


def make_dialogue(dialogue: str | Sequence[Turn | tuple[str, str]], speaker: str = "User") -> tuple[Turn, ...]:
    """Turns from a single user message, or from ``Turn``s / ``(role, text)`` pairs ending with the user's turn."""
    if isinstance(dialogue, str):
        return (Turn("user", speaker, dialogue),)
    turns = tuple(t if isinstance(t, Turn) else Turn(t[0], speaker if t[0] == "user" else "Assistant", t[1])  # type: ignore[arg-type]
                  for t in dialogue)
    return turns


class ChatAgent:
    """A trained policy with the backbone (and latent model) of its env.

    Args:
        model: A trained SB3 model.
        env_id: The env it was trained on (decides task and action space).
        env_kwargs: That env's keywords (backbone, latent model, reply limit, prompt style).
    """

    def __init__(self, model: Any, env_id: str, env_kwargs: dict[str, Any] | None = None) -> None:
        from lam_envs.envs.config import ConversationConfig
        from lam_envs.envs.resources import resolve_backbone, resolve_world_model

        import lam_envs  # noqa: F401

        self.model = model
        self.env_id = env_id
        spec_kwargs = gym.spec(env_id).kwargs
        self.task: str = spec_kwargs["task"]
        self.action_kind: str = spec_kwargs["action_space"]
        self.config = ConversationConfig(**(env_kwargs or {}))
        self.backbone, is_default = resolve_backbone(self.config)
        self.world_model = (resolve_world_model(self.config.latent_model, self.backbone)
                            if self.action_kind == "latent" else None)
        self.prompt_style = self.config.prompt_style or ("compact" if is_default else "full")

    @classmethod
    def from_run(cls, run_dir: str | Path) -> ChatAgent:
        """Load the agent a ``lam train`` run saved.

        Raises:
            ValueError: if a recorded env keyword cannot be rebuilt (see
                :func:`lam_agents.env_kwargs.env_kwargs_from_record`).
        """
        from lam_agents.env_kwargs import env_kwargs_from_record
        from lam_agents.train import load_agent

        model, run = load_agent(run_dir)
        # Chatting never calls the run's LLM judge, so a judge whose key was not recorded needs none here.
        env_kwargs = env_kwargs_from_record(run["config"]["env_kwargs"], require_judge_key=False)
        return cls(model, run["config"]["env_id"], env_kwargs)

    def sample_for(self, image: Image.Image | str | Path, dialogue: str | Sequence[Any],
                   persona: Persona | str | dict[str, str]) -> Sample:
        """The sample (no reference) the agent answers for these inputs.

        Raises:
            ImageLoadError: if ``image`` is a path to a missing, unreadable, truncated or oversized file.
        """
        if not isinstance(image, Image.Image):
            image = open_image(image)  # the datasets' checks: full decode, pixel limit, large files downscaled
        return Sample(id="chat", task=self.task, image=PilImage(image.convert("RGB")),  # type: ignore[arg-type]
                      dialogue=make_dialogue(dialogue), persona=make_persona(self.task, persona), reference="",
                      split=Split.TEST_ID)

    def reply(self, image: Image.Image | str | Path, dialogue: str | Sequence[Any],
              persona_or_roleset: Persona | str | dict[str, str], deterministic: bool = True) -> str:
        """The agent's reply to the last user turn of ``dialogue`` about ``image``.

        Args:
            image: A PIL image or an image file.
            dialogue: The user's message, or the turns so far ending with the user's.
            persona_or_roleset: MMRole: the character (profile or name); PCogAlign: the user's profile or role set.
            deterministic: Greedy actions (default) or sampled ones.
        """
        return self.reply_to(self.sample_for(image, dialogue, persona_or_roleset), deterministic)

    @torch.inference_mode()
    def reply_to(self, sample: Sample, deterministic: bool = True) -> str:
        """The agent's reply to a dataset sample."""
        from lam_envs.envs.config import DEFAULT_TOKEN_MASK_TOP_P
        from lam_envs.envs.core import top_p_mask
        from lam_envs.envs.resources import contexts_for

        backbone = self.backbone
        state = backbone.prefill(contexts_for([sample], self.prompt_style))
        h = state.h
        tokens: list[int] = []
        lstm_state, start = None, np.ones(1, dtype=bool)
        bound = float(self.config.obs_bound)
        for _ in range(self.config.max_reply_tokens):
            obs = h.float().clamp(-bound, bound).cpu().numpy()
            kwargs: dict[str, Any] = {"deterministic": deterministic}
            name = type(self.model).__name__
            if name == "MaskablePPO":
                kwargs["action_masks"] = self._masks(h, top_p_mask, DEFAULT_TOKEN_MASK_TOP_P)
            if name == "RecurrentPPO":
                kwargs.update(state=lstm_state, episode_start=start)
            action, lstm_state = self.model.predict(obs, **kwargs)
            start = np.zeros(1, dtype=bool)
            act = torch.as_tensor(np.asarray(action).reshape(1), dtype=torch.long, device=backbone.device)
            token = act if self.world_model is None else self.world_model.token_logits(h, act, backbone).argmax(-1)
            tokens.append(int(token[0]))
            if tokens[-1] == backbone.eos_token_id:
                break
            h = backbone.step(state, token)
        return backbone.decode(tokens)

    def _masks(self, h: torch.Tensor, top_p_mask: Any, default_top_p: float) -> np.ndarray:
        top_p = self.config.mask_top_p
        if self.world_model is None:
            return top_p_mask(self.backbone.lm_head(h), default_top_p if top_p is None else top_p)
        if top_p is None:
            return np.ones((1, self.world_model.config.num_codes), dtype=bool)
        return top_p_mask(self.world_model.prior_logits(h), top_p)
