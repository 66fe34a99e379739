"""How a :class:`~lam_envs.data.types.Sample` becomes chat messages for a VLM.

One place decides what the agent is shown, for every task and both tiers, so that the token and latent twins of an
environment, the pretraining stages and the chat agent all see the same prompt. The system message is the task's
(its :class:`~lam_envs.tasks.TaskSpec`'s ``system_message``); the two tasks' are here:

* MMRole: a system message with the character's profile, then the dialogue so far (the image belongs to the first
  user turn).
* PCogAlign: a system message with the user's role set only. The location, the situation description and what the
  user expects are the judge's hidden information (the paper's ``eval_info``): the agent must read the location off
  the image to know which of the person's roles applies.

``style="compact"`` shortens the system message and keeps only the last exchanges, for the embedded tiny model whose
context and compute are small; ``"full"`` shows everything, as for a real checkpoint.
"""

from __future__ import annotations

from typing import Literal

from lam_envs.data.personas import character_of, user_of
from lam_envs.data.types import Sample
from lam_envs.tasks import task_spec

PromptStyle = Literal["full", "compact"]
Message = tuple[str, str]  # (role, text) with role in {"system", "user", "assistant"}

COMPACT_HISTORY_TURNS = 3  # the user's turn plus the exchange before it


def system_message(sample: Sample, style: PromptStyle = "full") -> str:
    """The system message for ``sample``'s persona (its task entry's ``system_message``)."""
    return task_spec(sample.task).system_message_for(sample, style)


def character_system_message(sample: Sample, style: PromptStyle = "full") -> str:
    """MMRole: the character to play, with the whole profile (``"full"``) or the name only (``"compact"``)."""
    persona = character_of(sample)
    if style == "compact":
        return f"You are {persona.name}. Comment on the image in character."
    return (
        f"You are {persona.name}. {persona.introduction} Personality: {persona.personality} "
        f"Experience: {persona.experience} Relationship with the user: {persona.relationship} "
        f'Catchphrase: "{persona.catchphrase}". Stay in character and comment on the image with the user.'
    )


def user_system_message(sample: Sample, style: PromptStyle = "full") -> str:
    """PCogAlign: the user's role set only (where they are is for the agent to read off the image)."""
    roles = "; ".join(f"{location}: {role}" for location, role in user_of(sample).role_set)
    if style == "compact":
        return f"User roles: {roles}. Answer for the role at the place shown."
    return (
        f"You are a helpful assistant. The user holds these roles, one per place: {roles}. Look at the image to "
        "see where the user is, and answer the way this person needs in that role: their body and behaviour, "
        "their feelings and the situation."
    )


def sample_messages(sample: Sample, style: PromptStyle = "full", whole: bool = False) -> list[Message]:
    """The chat messages for ``sample``, ending with the user's turn to answer.

    Args:
        sample: the turn to answer.
        style: ``"full"`` (everything) or ``"compact"`` (short system message, last
            :data:`COMPACT_HISTORY_TURNS` turns).
        whole: keep every turn in either style (dialogue episodes, whose context only ever grows).

    Returns:
        ``[(role, text), ...]``: the system message, then the dialogue turns in order.
    """
    if style not in ("full", "compact"):
        raise ValueError(f"unknown prompt style {style!r}; expected 'full' or 'compact'")
    turns = sample.dialogue[-COMPACT_HISTORY_TURNS:] if style == "compact" and not whole else sample.dialogue
    return [("system", system_message(sample, style))] + [(t.role, t.text) for t in turns]
