"""The synthetic personas: MMRole characters and PCogAlign individuals, with the lexicons the judges score against.

The profiles (:class:`~lam_envs.data.types.CharacterProfile`, :class:`~lam_envs.data.types.UserProfile`) are what
agents see; the specs below add what the generators speak with and what the rule-based judges check.
"""

from __future__ import annotations

from dataclasses import dataclass

from lam_envs.data.types import CharacterProfile


@dataclass(frozen=True)
class CharacterSpec:
    """An MMRole character of the synthetic task.

    Attributes:
        profile: what the agent is shown.
        personality_words: adjectives/adverbs typical of this character's personality (judge: personality).
        knowledge_words: nouns of this character's domain and life story (judge: knowledge consistency).
        tone_markers: interjections, openers and sign-offs typical of the character's voice (judge: tone).
        held_out: ``True`` for out-of-distribution characters (never in SFT/RL/in-distribution test splits).
    """

    profile: CharacterProfile
    personality_words: tuple[str, ...]
    knowledge_words: tuple[str, ...]
    tone_markers: tuple[str, ...]
    held_out: bool = False

    @property
    def name(self) -> str:
        return self.profile.name


@dataclass(frozen=True)
class IndividualSpec:
    """A PCogAlign individual of the synthetic task.

    Attributes:
        individual_id: stable id.
        name: a first name, used in dialogue.
        role_set: ``(location, role)`` pairs; locations are scene backgrounds
            (:data:`lam_envs.data.scenes.LOCATIONS`).
        held_out: ``True`` for out-of-distribution individuals.
    """

    individual_id: str
    name: str
    role_set: tuple[tuple[str, str], ...]
    held_out: bool = False
