"""A trained agent as a chat partner: ``ChatAgent.reply(image, dialogue, persona_or_roleset) -> str``.

The agent writes exactly as it did in its env: the frozen backbone prefills the image and the dialogue, the policy
picks an action from the context embedding h_t at every step, and the action becomes a token (latent runs: the world
model's token for the code; token runs: the action itself) until EOS or the env's reply limit, through the envs'
decode engine (:func:`lam_envs.envs.engine.write_replies`)::

    agent = ChatAgent.from_run("runs/ppo_latent")
    print(agent.reply(Image.open("cat.png"), "What do you think of this?", "Captain Mira"))

A conversation goes on turn after turn, with the agent's own replies in its context::

    chat = agent.conversation(Image.open("cat.png"), "Captain Mira")
    for text in ("Hello! What do you see?", "How many are there?", "Which one do you like?"):
        print(chat.say(text))
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from PIL import Image

from lam_envs.data.images import open_image
from lam_envs.data.types import Persona, Sample, Split, Turn
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
        spec: A persona of the task's type (a ``CharacterProfile`` / ``UserProfile``), returned as it is; or a
            description: for MMRole a character name; for PCogAlign a role set as a ``{location: role}`` dict or a
            ``"home: parent; community: volunteer"`` string (the first location is taken as the current one).

    Raises:
        ValueError: for an empty or malformed description, or an unknown task.
    """
    if not isinstance(spec, (str, dict)):
        return spec
    return task_spec(task).parse_persona(spec)


def make_dialogue(dialogue: str | Sequence[Turn | tuple[str, str]], speaker: str = "User") -> tuple[Turn, ...]:
    """Turns from a single user message, or from ``Turn``s / ``(role, text)`` pairs ending with the user's turn."""
    if isinstance(dialogue, str):
        return (Turn("user", speaker, dialogue),)
    turns = tuple(t if isinstance(t, Turn) else Turn(t[0], speaker if t[0] == "user" else "Assistant", t[1])  # type: ignore[arg-type]
                  for t in dialogue)
    return turns


class Conversation:
    """A conversation with a :class:`ChatAgent` about one image: each :meth:`say` adds the user's turn and the agent's
    reply to :attr:`turns`, so later replies see the agent's own earlier ones (as in a dialogue env's episode).

    Args:
        agent: The agent.
        image: A PIL image or an image file.
        persona: MMRole: the character; PCogAlign: the user's profile or role set (see :func:`make_persona`).
        deterministic: Greedy actions (default) or sampled ones.
        seed: With ``decoding="sample"``, turn k draws its tokens from seed ``seed + k`` (``None``: fresh entropy).
    """

    def __init__(self, agent: ChatAgent, image: Image.Image | str | Path, persona: Persona | str | dict[str, str],
                 deterministic: bool = True, seed: int | None = None) -> None:
        self.agent = agent
        self.image = image if isinstance(image, Image.Image) else open_image(image)
        self.persona = make_persona(agent.task, persona)
        self.deterministic, self.seed = deterministic, seed
        self.turns: list[Turn] = []

    def say(self, text: str) -> str:
        """The agent's reply to the user's ``text`` (both are added to the conversation).

        Raises:
            ValueError: for an empty message.
        """
        if not text or not text.strip():
            raise ValueError("say() needs a non-empty message")
        turns = [*self.turns, Turn("user", "User", text.strip())]
        seed = None if self.seed is None else self.seed + len(self.turns) // 2
        sample = self.agent.sample_for(self.image, turns, self.persona)
        reply = self.agent.reply_to(sample, self.deterministic, seed)
        self.turns = [*turns, Turn("assistant", task_spec(sample.task).assistant_speaker_for(sample), reply)]
        return reply


class ChatAgent:
    """A trained policy with the backbone (and latent model) of its env.

    Its replies come from the envs' decode engine (:func:`lam_envs.envs.engine.write_replies`): on a sample of its env
    the agent writes the reply an env episode on that sample would, under the same policy and seed, with the env's
    observations, action masks and token choice (``decoding="sample"`` included).

    Args:
        model: A trained SB3 model.
        env_id: The env it was trained on (decides task and action space).
        env_kwargs: That env's keywords (backbone, latent model, reply limit, prompt style, decoding).
        algo: The model's algorithm (``None``: from its class), which says whether it takes action masks or
            carries a recurrent state.
    """

    def __init__(self, model: Any, env_id: str, env_kwargs: dict[str, Any] | None = None,
                 algo: str | None = None) -> None:
        import lam_envs  # noqa: F401
        from lam_agents.algos import algo_spec
        from lam_agents.evaluate import model_spec
        from lam_envs.envs.config import ConversationConfig, check_action_kind, check_task
        from lam_envs.envs.setup import Setup

        self.model = model
        self.env_id = env_id
        spec_kwargs = gym.spec(env_id).kwargs
        task, kind = check_task(spec_kwargs["task"]), check_action_kind(spec_kwargs["action_space"])
        self.task: str = task
        self.action_kind: str = kind
        # The id's own keywords (a dialogue id sets dialogue=True), then the run's.
        registered = {k: v for k, v in spec_kwargs.items() if k not in ("task", "action_space")}
        self.config = ConversationConfig(**{**registered, **(env_kwargs or {})})
        self.algo = model_spec(model) if algo is None else algo_spec(algo)
        # The models only: chatting neither draws the split's samples nor calls the judge.
        self.setup = Setup.for_decoding(task, kind, self.config)

    @property
    def backbone(self) -> Any:
        """The frozen VLM."""
        return self.setup.backbone

    @property
    def world_model(self) -> Any:
        """The latent action model (latent runs), else ``None``."""
        return self.setup.world_model

    @property
    def prompt_style(self) -> str:
        """The prompt style the env used."""
        return self.setup.prompt_style

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
        return cls(model, run["config"]["env_id"], env_kwargs, algo=run["config"]["algo"])

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
              persona_or_roleset: Persona | str | dict[str, str], deterministic: bool = True,
              seed: int | None = None) -> str:
        """The agent's reply to the last user turn of ``dialogue`` about ``image``.

        Args:
            image: A PIL image or an image file.
            dialogue: The user's message, or the turns so far ending with the user's.
            persona_or_roleset: MMRole: the character (profile or name); PCogAlign: the user's profile or role set.
            deterministic: Greedy actions (default) or sampled ones.
            seed: Seeds the sampled token choice of ``decoding="sample"`` (see :meth:`reply_to`).
        """
        return self.reply_to(self.sample_for(image, dialogue, persona_or_roleset), deterministic, seed)

    def conversation(self, image: Image.Image | str | Path, persona_or_roleset: Persona | str | dict[str, str],
                     deterministic: bool = True, seed: int | None = None) -> Conversation:
        """A conversation about ``image`` that goes on turn after turn (see :class:`Conversation`)."""
        return Conversation(self, image, persona_or_roleset, deterministic, seed)

    def play_dialogue(self, split: str, index: int, deterministic: bool = True,
                      seed: int | None = None) -> list[dict[str, Any]]:
        """The agent's episode on sample ``index`` of ``split`` in its dialogue env: the ``info`` of each reply, in
        order (``reply``, ``turn``, ``judge_ratio``, ...), as ``lam eval`` plays it.

        The env is the run's on every sample of ``split``, with the rule judge and the dialogue's own turns only (a
        run's simulated user is not called), so chatting calls no LLM. It writes each reply after the earlier ones
        in one decode state, extended by the reply's own tokens and the next user turn (see ``Backbone.extend``):
        a prompt rebuilt from the replies' text would not always hold those tokens (text decoded from a reply need
        not tokenize back to it), and so would not always write the episode's next reply.

        Args:
            split: The split ``index`` is in.
            index: The sample's index in the split.
            deterministic: Greedy actions (default) or sampled ones.
            seed: The env row's seed and that of torch's action sampling, as for ``answer_dialogues`` on a vector
                env seeded ``seed``; ``None``: fresh entropy.

        Raises:
            ValueError: if the agent's env is not a dialogue env, or ``index`` is outside the split.
        """
        from lam_agents.envs import make_vec_env
        from lam_agents.evaluate import answer_dialogues

        if not self.config.dialogue:
            raise ValueError(f"{self.env_id} plays one reply per episode, not a dialogue; use reply_to()")
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31))
        kwargs = {**vars(self.config), "split": split, "num_samples": None, "reward": "rule", "user_simulator": None}
        venv = make_vec_env(self.env_id, 1, seed, kwargs)
        try:
            return answer_dialogues(self.model, venv, [index], deterministic, seed=seed, spec=self.algo)[0]
        finally:
            venv.close()

    def reply_to(self, sample: Sample, deterministic: bool = True, seed: int | None = None) -> str:
        """The agent's reply to a dataset sample.

        Args:
            sample: The prompt.
            deterministic: Greedy actions (default) or sampled ones (from torch's generator).
            seed: With ``decoding="sample"``, the token choice draws from the generator an env row seeded ``seed``
                gives its first episode on a pinned sample, so the reply is that episode's; ``None``: fresh entropy.
        """
        from lam_agents.evaluate import ModelPolicy
        from lam_envs.envs.dynamics import ReplyBatch
        from lam_envs.envs.engine import write_replies
        from lam_envs.envs.spaces import observation_space
        from lam_envs.envs.vector import batch_observations, pinned_decode_seed

        setup = dataclasses.replace(self.setup, samples=[sample])
        batch = ReplyBatch(setup, 1)
        batch.begin([0], [0], [pinned_decode_seed(seed)])
        space, predict = observation_space(setup), ModelPolicy(self.model, deterministic, self.algo)
        start = [True]

        def policy(rows: ReplyBatch) -> np.ndarray:
            actions = predict(batch_observations(rows, space), rows.action_masks, np.array(start))
            start[0] = False
            return actions

        write_replies(batch, policy, observe=True)
        return batch.reply_text(0)
