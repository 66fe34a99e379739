"""Personas in short text, one set of functions per task (per persona type): the one-line summary ``lam data show``
prints under each sample, the persona ``lam chat`` builds from a short description, the persona's identity, the
line a rendered episode shows and the name the agent's turns go under.

Each task's :class:`~lam_envs.tasks.TaskSpec` names them as ``persona_summary``, ``persona_from_text``,
``persona_key``, ``persona_line`` and ``assistant_speaker``.
"""

from __future__ import annotations

import textwrap

from typing import Any

from lam_envs.data.types import CharacterProfile, Sample, UserProfile


def character_of(sample: Sample) -> CharacterProfile:
    """MMRole: the sample's character (its persona, typed).

    Raises:
        TypeError: if the persona is not a :class:`CharacterProfile`.
    """
    persona = sample.persona
    if not isinstance(persona, CharacterProfile):
        raise TypeError(
            f"sample {sample.id!r}: an MMRole sample needs a CharacterProfile, got {type(persona).__name__}"
        )
    return persona


def user_of(sample: Sample) -> UserProfile:
    """PCogAlign: the sample's user profile (its persona, typed).

    Raises:
        TypeError: if the persona is not a :class:`UserProfile`.
    """
    persona = sample.persona
    if not isinstance(persona, UserProfile):
        raise TypeError(f"sample {sample.id!r}: a PCogAlign sample needs a UserProfile, got {type(persona).__name__}")
    return persona


def character_summary(sample: Sample) -> str:
    """MMRole: the character's name and the start of their introduction."""
    persona = character_of(sample)
    intro = textwrap.shorten(" ".join(persona.introduction.split()), width=200, placeholder=" ...")
    return f"{persona.name} - {intro}"


def user_summary(sample: Sample) -> str:
    """PCogAlign: who the user is (role set), where they are now and the start of the situation."""
    persona = user_of(sample)
    roles = "; ".join(f"{role} at {location}" for location, role in persona.role_set)
    now = f"now at {persona.location}" + (f" (as {persona.current_role})" if persona.current_role else "")
    situation = textwrap.shorten(persona.situation, width=160, placeholder=" ...")
    return f"{persona.individual_id}: {roles}; {now}; situation: {situation}"


def character_key(sample: Sample) -> str:
    """MMRole: a character is known by their name."""
    return character_of(sample).name


def user_key(sample: Sample) -> str:
    """PCogAlign: an individual is known by their id."""
    return user_of(sample).individual_id


def character_line(sample: Sample) -> str:
    """MMRole: the character a rendered episode shows the agent playing."""
    return f"Character: {character_of(sample).name}"


def user_line(sample: Sample) -> str:
    """PCogAlign: the role set of the user a rendered episode shows the agent answering."""
    return "User roles: " + "; ".join(f"{place}: {role}" for place, role in user_of(sample).role_set)


def character_speaker(sample: Sample) -> str:
    """MMRole: the agent's turns go under the character's name."""
    return character_of(sample).name


def character_from_text(name: Any) -> CharacterProfile:
    """MMRole: a character known by name only (empty profile parts).

    Raises:
        ValueError: for an empty name.
    """
    name = str(name).strip()
    if not name:
        raise ValueError("an MMRole persona needs a character name, e.g. 'Captain Mira'")
    return CharacterProfile(name, "", "", "", "", "")


def user_from_text(spec: Any) -> UserProfile:
    """PCogAlign: a user from a role set, a ``{location: role}`` dict or a ``"home: parent; community: volunteer"``
    string; the first location is taken as the current one.

    Raises:
        ValueError: for an empty role set.
    """
    pairs = (tuple(x.strip() for x in part.split(":", 1)) for part in str(spec).split(";") if ":" in part)
    roles = spec if isinstance(spec, dict) else dict(pairs)  # type: ignore[arg-type]
    if not roles:
        raise ValueError(f"role set {spec!r} is empty; write it as 'home: parent; community: volunteer'")
    first = next(iter(roles))
    return UserProfile("chat-user", tuple(roles.items()), first, "", "")
