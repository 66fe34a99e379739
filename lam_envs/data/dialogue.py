"""Whole-dialogue episodes: a sample's conversation as a script of exchanges the agent answers one after another.

A dialogue episode is one conversation about one image (see :class:`~lam_envs.envs.config.ConversationConfig`,
``dialogue=True``). Its *script* comes from the sample:

* the turns before the first user turn stay as they are (an opening the agent did not write);
* every later run of user turns is one exchange; the assistant turn after it is that exchange's reference, and the
  sample's own ``reference`` is the last one's;
* then the task's generated follow-ups, for synthetic samples (:attr:`TaskSpec.followups`), e.g. PCogAlign's user
  reacting to the advice or showing a second detail.

A real sample with a single user turn and no follow-ups is a one-exchange dialogue unless a simulated user writes
the next turns (:class:`~lam_envs.rewards.llm.user.UserSimulatorConfig`); those exchanges have no reference and are
judged against the turn's rubric by the LLM judge.

When the agent answers exchange k, its context holds the opening, the user turns of exchanges 1..k and the agent's
*own* replies to exchanges 1..k-1, never the references: :func:`turn_sample` builds that view, which is what the
judge scores.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lam_envs.data.types import Sample, Turn
from lam_envs.tasks import task_spec

FOLLOWUP_SEED_CODE = 5
"""The follow-ups' code in generator seeds (``(data_seed, task code, 5, crc32(sample id))``): a sample's follow-ups
never depend on which other samples were generated, and generating them leaves the samples themselves unchanged."""


@dataclass(frozen=True)
class Exchange:
    """One exchange of a dialogue episode.

    Attributes:
        user: the user's turn(s) the agent answers (usually one).
        reference: the reference reply the judge compares against; ``None`` for a turn without one (a simulated
            user's), judged against the turn's rubric.
    """

    user: tuple[Turn, ...]
    reference: str | None


@dataclass(frozen=True)
class DialogueScript:
    """A sample's dialogue as the agent plays it (see the module docstring)."""

    opening: tuple[Turn, ...]
    exchanges: tuple[Exchange, ...]

    def __len__(self) -> int:
        return len(self.exchanges)


def dialogue_script(sample: Sample, followups: Sequence[Exchange] = ()) -> DialogueScript:
    """The sample's exchanges (its own dialogue and reference), then ``followups``."""
    dialogue = sample.dialogue
    first_user = next(i for i, t in enumerate(dialogue) if t.role == "user")
    exchanges: list[Exchange] = []
    users: list[Turn] = []
    for turn in dialogue[first_user:]:
        if turn.role == "user":
            users.append(turn)
        elif users:
            exchanges.append(Exchange(tuple(users), turn.text))
            users = []
        # An assistant turn right after another is context the agent cannot answer: dropped from the script.
    exchanges.append(Exchange(tuple(users), sample.reference))
    return DialogueScript(tuple(dialogue[:first_user]), tuple(exchanges) + tuple(followups))


def turn_sample(sample: Sample, script: DialogueScript, k: int, replies: Sequence[str]) -> Sample:
    """The sample the agent answers at exchange ``k`` (0-based), given its own ``replies`` to exchanges 0..k-1.

    Its dialogue is the opening, then each earlier exchange's user turns and the agent's reply, then exchange k's user
    turns; its reference is exchange k's (``""`` for a turn without one). The id gets ``#k`` for k > 0.
    """
    if not 0 <= k < len(script):
        raise ValueError(f"exchange {k} is outside the dialogue's {len(script)} exchanges")
    if len(replies) != k:
        raise ValueError(f"exchange {k} needs the agent's {k} earlier replies, got {len(replies)}")
    turns: list[Turn] = list(script.opening)
    speaker = _assistant_speaker(sample)
    for exchange, reply in zip(script.exchanges, replies):
        turns += exchange.user
        turns.append(Turn("assistant", speaker, reply))
    turns += script.exchanges[k].user
    reference = script.exchanges[k].reference
    return dataclasses.replace(sample, id=sample.id if k == 0 else f"{sample.id}#{k}", dialogue=tuple(turns),
                               reference="" if reference is None else reference)


def _assistant_speaker(sample: Sample) -> str:
    named = [t.speaker for t in sample.dialogue if t.role == "assistant"]
    if named:
        return named[0]
    return task_spec(sample.task).assistant_speaker_for(sample)


def dialogue_scripts(samples: Sequence[Sample], data_seed: int) -> list[DialogueScript]:
    """Each sample's script, with its task's generated follow-ups (synthetic samples; seeded by ``data_seed`` and the
    sample's id)."""
    scripts = []
    for s in samples:
        spec = task_spec(s.task)
        rng = np.random.default_rng([data_seed, spec.seed_code, FOLLOWUP_SEED_CODE, zlib.crc32(s.id.encode())])
        scripts.append(dialogue_script(s, spec.followups_for(s, rng)))
    return scripts


def whole_dialogues(samples: Sequence[Sample]) -> list[Sample]:
    """``samples`` without those whose dialogue is the start of another's (a real MMRole dialogue is one sample per
    character turn; a dialogue episode plays each conversation once, from its longest sample)."""
    prefixes: set[tuple[str, object, tuple[Turn, ...]]] = set()
    for s in samples:
        for j in range(1, len(s.dialogue)):
            prefixes.add((s.persona_key, _image_key(s), s.dialogue[:j]))
    return [s for s in samples if (s.persona_key, _image_key(s), s.dialogue) not in prefixes]


def _image_key(sample: Sample) -> object:
    try:
        hash(sample.image)
    except TypeError:
        return id(sample.image)
    return sample.image
