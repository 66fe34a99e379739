"""Personas in short text, one pair of functions per task: the one-line summary ``lam data show`` prints under each
sample, and the persona ``lam chat`` builds from a short description.

Each task's :class:`~lam_envs.tasks.TaskSpec` names them as ``persona_summary`` and ``persona_from_text``.
"""

from __future__ import annotations

import textwrap

from typing import Any

from lam_envs.data.types import CharacterProfile, Sample, UserProfile


def character_summary(sample: Sample) -> str:
    """MMRole: the character's name and the start of their introduction."""
    persona = sample.persona
    assert isinstance(persona, CharacterProfile), f"sample {sample.id!r}: an MMRole sample has a CharacterProfile"
    intro = textwrap.shorten(" ".join(persona.introduction.split()), width=200, placeholder=" ...")
    return f"{persona.name} - {intro}"


def user_summary(sample: Sample) -> str:
    """PCogAlign: who the user is (role set), where they are now and the start of the situation."""
    persona = sample.persona
    assert isinstance(persona, UserProfile), f"sample {sample.id!r}: a PCogAlign sample has a UserProfile"
    roles = "; ".join(f"{role} at {location}" for location, role in persona.role_set)
    now = f"now at {persona.location}" + (f" (as {persona.current_role})" if persona.current_role else "")
    situation = textwrap.shorten(persona.situation, width=160, placeholder=" ...")
    return f"{persona.individual_id}: {roles}; {now}; situation: {situation}"


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
