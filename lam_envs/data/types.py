"""Typed samples: the only form in which environments, judges and trainers see task data.

A :class:`Sample` is one conversational turn to answer: an image, the dialogue so far (ending with the user's turn),
the task's persona, the reference reply and the split it belongs to. Loaders for real files and the synthetic
generators both produce these, so everything downstream is the same for both tiers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, Union, runtime_checkable

from PIL import Image

from lam_envs.data.images import DEFAULT_MAX_SIDE, open_image
from lam_envs.data.images import ImageLoadError as ImageLoadError  # re-exported: callers catch it from here
from lam_envs.tasks import TASK_REGISTRY, task_spec

if TYPE_CHECKING:
    from lam_envs.data.scenes import Scene

Task = Literal["mmrole", "pcogalign"]  # for type checkers; a task registered at run time is a plain str
TASKS: tuple[Task, ...] = tuple(TASK_REGISTRY)  # type: ignore[assignment]
"""The built-in tasks, in :data:`lam_envs.tasks.TASK_REGISTRY` order."""


class Split(str, enum.Enum):
    """Where a sample is used. Mirrors the paper: SFT and RL splits, an in-distribution and an OOD test."""

    SFT = "sft"
    RL = "rl"
    TEST_ID = "test_id"
    TEST_OOD = "test_ood"

    @classmethod
    def parse(cls, value: str | Split) -> Split:
        """Accept a ``Split`` or its string value, with an error that lists the valid names."""
        if isinstance(value, Split):
            return value
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown split {value!r}; expected one of: {names}") from None


@runtime_checkable
class ImageSource(Protocol):
    """Anything that can produce the sample's RGB image on demand."""

    def load(self) -> Image.Image:
        """Return the image as an RGB ``PIL.Image``."""
        ...


@dataclass(frozen=True)
class ImageFile:
    """An image stored on disk (real datasets).

    Attributes:
        path: the file.
        max_side: longest side it is decoded at (see :func:`~lam_envs.data.images.open_image`); a larger image is
            decoded at reduced scale instead of in full at every reset. ``None`` decodes at full size.
    """

    path: Path
    max_side: int | None = DEFAULT_MAX_SIDE

    def load(self) -> Image.Image:
        """Open and decode the file.

        Raises:
            ImageLoadError: if the file is missing, not a readable image, or over Pillow's pixel limit (the message
                names the file).
        """
        return open_image(self.path, max_side=self.max_side)


@dataclass(frozen=True)
class Turn:
    """One dialogue turn.

    Attributes:
        role: ``"user"`` for the human side, ``"assistant"`` for the side the agent plays.
        speaker: display name (e.g. ``"Human"`` or the character's name).
        text: what was said.
    """

    role: Literal["user", "assistant"]
    speaker: str
    text: str


@dataclass(frozen=True)
class CharacterProfile:
    """An MMRole character: who the agent role-plays."""

    name: str
    introduction: str
    personality: str
    experience: str
    relationship: str
    catchphrase: str


@dataclass(frozen=True)
class UserProfile:
    """A PCogAlign individual: the person the agent answers, in the situation the image shows.

    Attributes:
        individual_id: stable identifier of the person (used for persona-level splits).
        role_set: ``(location, role)`` pairs, one role per location (a tuple so the profile stays hashable).
        location: where the current situation takes place.
        situation: what the image shows (the dataset's image description).
        expectation: what this person expects from the answer.
    """

    individual_id: str
    role_set: tuple[tuple[str, str], ...]
    location: str
    situation: str
    expectation: str

    @property
    def roles(self) -> dict[str, str]:
        """The role set as a ``location -> role`` dict."""
        return dict(self.role_set)

    @property
    def current_role(self) -> str | None:
        """The role this person holds at the current location, if the role set names it."""
        return self.roles.get(self.location)


Persona = Union[CharacterProfile, UserProfile]


@dataclass(frozen=True)
class Sample:
    """One conversational turn to answer.

    Attributes:
        id: unique within its dataset.
        task: ``"mmrole"`` or ``"pcogalign"``.
        image: where the image comes from (a file, or a synthetic scene that renders itself).
        dialogue: the dialogue so far; the last turn is the user's turn the agent must answer.
        persona: the character (MMRole) or the user's profile (PCogAlign).
        reference: the reference reply the judge compares against.
        split: which split this sample belongs to.
        scene: ground truth of a synthetic image (used by rule-based judges); ``None`` for real data.
    """

    id: str
    task: Task
    image: ImageSource
    dialogue: tuple[Turn, ...]
    persona: Persona
    reference: str
    split: Split
    scene: Scene | None = None

    def __post_init__(self) -> None:
        if not self.dialogue or self.dialogue[-1].role != "user":
            raise ValueError(f"sample {self.id!r}: the dialogue must end with a user turn to answer")

    @property
    def query(self) -> str:
        """The user's last turn, the one the agent answers."""
        return self.dialogue[-1].text

    @property
    def persona_key(self) -> str:
        """The persona's identity (character name or individual id; its task entry's ``persona_key``), for
        persona-level splits."""
        return task_spec(self.task).persona_key_for(self)
