"""The task registry: one :class:`TaskSpec` per task says everything the suite needs to know about it.

An entry names the task's judge dimensions, its synthetic generator, seed code and split sizes, its real-data loader
and that loader's file arguments, its rule-based judge, its LLM-judge prompts (against a reference, and against the
rubric alone for a turn without one), its simulated user's prompt, the judge self-check's degraded replies, and
everything that depends on the task's persona type: the agent's system message, the persona's identity, the line
that ``lam data show`` prints and the one a rendered episode shows, the name the agent's turns go under, and how
``lam chat`` reads a persona from a description. Code that differs by task asks :func:`task_spec` instead of testing
the task's name or its persona's type, so adding a third task means adding one entry to :data:`TASK_REGISTRY` (and
its modules, with its own persona type)::

    spec = task_spec("mmrole")
    samples = spec.generate("rl", seed=0, n=8)
    judge = spec.make_rule_judge(corpus)

The code of an entry is named by ``"module:attribute"`` strings, as Gymnasium's entry points are, so importing this
module imports nothing but the standard library (``lam_envs.data.types`` derives :data:`~lam_envs.data.types.TASKS`
from it); a plain callable works too, for tasks defined outside the package (a test's toy task, a user's own).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Union

if TYPE_CHECKING:
    from lam_envs.data.real.errors import LoadReport
    from lam_envs.data.types import Persona, Sample, Split
    from lam_envs.rewards.rules.core import RuleJudge

Ref = Union[str, Callable[..., Any], Mapping[Any, Any]]
"""Code or data of an entry: a ``"module:attribute"`` string, resolved when first used, or the object itself."""


def resolve(ref: Ref) -> Any:
    """The object ``ref`` names (``ref`` itself when it is not a string).

    Raises:
        ValueError: if a string is not of the form ``"module:attribute"``.
    """
    if not isinstance(ref, str):
        return ref
    module, sep, attribute = ref.partition(":")
    if not sep or not module or not attribute:
        raise ValueError(f"entry point {ref!r} must be 'module:attribute', e.g. 'lam_envs.data.synthetic.mmrole:X'")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class RealFile:
    """One file argument of a task's real-data loader, as a command line offers it (``--<keyword>``).

    Attributes:
        keyword: the loader's keyword argument (``ood_dialogues`` is offered as ``--ood-dialogues``).
        help: the option's help text.
        many: whether it takes several paths (files or directories).
        required: when set, the loader cannot run without it whatever the split; says what to pass.
    """

    keyword: str
    help: str
    many: bool = False
    required: str | None = None

    @property
    def flag(self) -> str:
        """The command-line option, e.g. ``"--ood-dialogues"``."""
        return "--" + self.keyword.replace("_", "-")


@dataclass(frozen=True)
class TaskSpec:
    """Everything task-specific, in one place.

    Attributes:
        name: the task's name (``"mmrole"``), as in ``Sample.task`` and ``task=`` arguments.
        title: its display name (``"MMRole"``), used in the registered env ids.
        seed_code: the task's number in the synthetic generators' seeds (``(seed, code, pool, index)``); unique,
            and never changed once samples were generated with it (the shipped models were trained on them).
        dimensions: the judge dimensions, in order.
        image_dimension: the dimension that rewards using the image (a backbone that ignores the image loses it).
        generator: ``(split, *, seed, n) -> list[Sample]``, the synthetic task's samples.
        sizes: ``{Split: int}``, how many samples each synthetic split holds.
        real_loader: ``(*, split, seed, on_error, **files) -> (list[Sample], LoadReport)``, the real-data loader
            whose file keywords are ``real_files`` plus ``image_root``.
        real_files: the loader's file arguments, for command lines.
        rule_judge: ``(corpus) -> RuleJudge``, the rule-based judge given its fluency corpus.
        judge_prompt: ``(sample, reply) -> (system, user)``, the LLM judge's system prompt and user text.
        persona_summary: ``(sample) -> str``, one line about the sample's persona (``lam data show``).
        persona_from_text: ``(description) -> Persona``, a persona from a short description (``lam chat``).
        system_message: ``(sample, style) -> str``, the agent's system message about the sample's persona, for
            ``style`` ``"full"`` or ``"compact"`` (:func:`lam_envs.data.prompts.system_message`).
        persona_key: ``(sample) -> str``, the persona's identity (a character's name, an individual's id): samples
            with equal keys are one persona's (persona-level splits, whole dialogues, the self-check's
            ``other_character``).
        followups: ``(sample, rng) -> tuple[Exchange, ...]``, exchanges that continue a synthetic sample's
            dialogue in dialogue episodes (:mod:`lam_envs.data.dialogue`), or ``None`` when its own turns suffice.
        rubric_prompt: ``(sample, reply) -> (system, user)``, the LLM judge's prompt for a turn without a reference
            (``sample.reference == ""``): ``reply`` alone, scored against the rubric; ``None`` when the task's
            turns always have references.
        user_prompt: ``(sample, reply) -> (system, user)``, the simulated user's prompt for the user's next turn
            after the agent's ``reply`` (:class:`~lam_envs.rewards.llm.user.UserSimulator`); ``None`` when the task
            has no simulated user.
        persona_line: ``(sample) -> str``, the line about the persona that a rendered episode shows (the
            ``"ansi"`` transcript and the ``"rgb_array"`` frame); ``None`` shows ``persona_summary``'s.
        assistant_speaker: ``(sample) -> str``, the speaker the agent's turns go under when the dialogue has no
            assistant turn to take it from (a character's name); ``None`` for ``"Assistant"``.
        self_check_kinds: ``{kind: (sample, others, rng) -> reply}``, the degraded replies of ``lam judge
            --self-check``, in order (see :mod:`lam_envs.rewards.selfcheck`); ``None`` when the task has no
            self-check.
        rule_judge_version: bumped whenever a change to the rule judge alters the score of some reply, so that
            stored results made before it are not mixed with new ones (:func:`lam_agents.learning.run_settings`).
            MMRole 2: a reply that leaves the question unanswered is marked down (``evades``).
    """

    name: str
    title: str
    seed_code: int
    dimensions: tuple[str, ...]
    image_dimension: str
    generator: Ref
    sizes: Ref
    real_loader: Ref
    real_files: tuple[RealFile, ...]
    rule_judge: Ref
    judge_prompt: Ref
    persona_summary: Ref
    persona_from_text: Ref
    system_message: Ref
    persona_key: Ref
    followups: Ref | None = None
    rubric_prompt: Ref | None = None
    user_prompt: Ref | None = None
    persona_line: Ref | None = None
    assistant_speaker: Ref | None = None
    self_check_kinds: Ref | None = None
    rule_judge_version: int = 1

    def generate(self, split: Split | str, *, seed: int = 0, n: int | None = None) -> list[Sample]:
        """Samples of the synthetic task (see :func:`lam_envs.data.synthetic.synthetic_samples`)."""
        return resolve(self.generator)(split, seed=seed, n=n)

    def split_sizes(self) -> Mapping[Split, int]:
        """How many samples each synthetic split holds."""
        return resolve(self.sizes)

    def load_real(self, **kwargs: Any) -> tuple[list[Sample], LoadReport]:
        """Load a real split: ``kwargs`` are the loader's (``split``, ``seed``, ``image_root``, the files...).

        Raises:
            TypeError: if a keyword does not fit the loader.
        """
        return resolve(self.real_loader)(**kwargs)

    @property
    def real_loader_name(self) -> str:
        """The loader's name, for messages."""
        ref = self.real_loader
        return ref.rpartition(":")[2] if isinstance(ref, str) else getattr(ref, "__name__", repr(ref))

    def make_rule_judge(self, corpus: tuple[str, ...]) -> RuleJudge:
        """The rule-based judge with ``corpus`` as its model of the task's language."""
        return resolve(self.rule_judge)(corpus)

    def prompt(self, sample: Sample, reply: str) -> tuple[str, str]:
        """The LLM judge's system prompt and user text for ``reply`` to ``sample``."""
        return resolve(self.judge_prompt)(sample, reply)

    def rubric_prompt_for(self, sample: Sample, reply: str) -> tuple[str, str]:
        """The LLM judge's system prompt and user text for ``reply`` to ``sample``, a turn without a reference.

        Raises:
            ValueError: if the entry has no ``rubric_prompt``.
        """
        return self._required(
            "rubric_prompt",
            f"sample {sample.id!r} has no reference and task {self.name!r} has no rubric_prompt to judge it "
            "without one; add rubric_prompt=<(sample, reply) -> (system, user)> to its TaskSpec",
        )(sample, reply)

    def user_prompt_for(self, sample: Sample, reply: str) -> tuple[str, str]:
        """The simulated user's system prompt and user text: their next turn after the agent's ``reply`` to
        ``sample``.

        Raises:
            ValueError: if the entry has no ``user_prompt``.
        """
        return self._required(
            "user_prompt",
            f"task {self.name!r} has no simulated user (no user_prompt in its TaskSpec); add "
            "user_prompt=<(sample, reply) -> (system, user)> to it, or use the task without a UserSimulator",
        )(sample, reply)

    def _required(self, name: str, missing: str) -> Any:
        """The object the optional field ``name`` refers to; ``ValueError(missing)`` where the entry has none."""
        ref = getattr(self, name)
        if ref is None:
            raise ValueError(missing)
        return resolve(ref)

    def summarise(self, sample: Sample) -> str:
        """One line about who the agent plays or answers in ``sample``."""
        return resolve(self.persona_summary)(sample)

    def system_message_for(self, sample: Sample, style: str = "full") -> str:
        """The agent's system message for ``sample``'s persona, ``"full"`` or ``"compact"``."""
        return resolve(self.system_message)(sample, style)

    def persona_key_for(self, sample: Sample) -> str:
        """The identity of ``sample``'s persona (equal for two samples of one persona)."""
        return resolve(self.persona_key)(sample)

    def persona_line_for(self, sample: Sample) -> str:
        """The line about ``sample``'s persona in a rendered episode (``persona_summary``'s when the entry has no
        ``persona_line``)."""
        return resolve(self.persona_summary if self.persona_line is None else self.persona_line)(sample)

    def assistant_speaker_for(self, sample: Sample) -> str:
        """The speaker of the agent's turns in ``sample``'s dialogue when none of its turns names it."""
        return "Assistant" if self.assistant_speaker is None else resolve(self.assistant_speaker)(sample)

    def degraded_kinds(self) -> Mapping[str, Callable[..., str]]:
        """The judge self-check's degraded kinds, ``{kind: (sample, others, rng) -> reply}`` in order.

        Raises:
            ValueError: if the entry has no ``self_check_kinds``.
        """
        return self._required(
            "self_check_kinds",
            f"task {self.name!r} has no judge self-check (no self_check_kinds in its TaskSpec); add "
            "self_check_kinds=<{kind: (sample, others, rng) -> reply}> to it, e.g. "
            "lam_envs.rewards.selfcheck.degraded_kinds(...) with the task's own paraphrase and persona words",
        )

    def followups_for(self, sample: Sample, rng: Any) -> tuple[Any, ...]:
        """The generated exchanges that continue synthetic ``sample`` in a dialogue episode (none for real data, or
        for a task whose samples are whole dialogues already)."""
        if self.followups is None or sample.scene is None:
            return ()
        return tuple(resolve(self.followups)(sample, rng))

    def parse_persona(self, description: Any) -> Persona:
        """A persona from a short description (see :func:`lam_agents.chat.make_persona`).

        Raises:
            ValueError: for an empty or malformed description.
        """
        return resolve(self.persona_from_text)(description)


TASK_REGISTRY: dict[str, TaskSpec] = {
    "mmrole": TaskSpec(
        name="mmrole",
        title="MMRole",
        seed_code=1,
        dimensions=(
            "instruction_adherence",
            "fluency",
            "coherency",
            "image_text_relevance",
            "response_accuracy",
            "personality_consistency",
            "knowledge_consistency",
            "tone_consistency",
        ),
        image_dimension="image_text_relevance",
        generator="lam_envs.data.synthetic.mmrole:mmrole_samples",
        sizes="lam_envs.data.synthetic.mmrole:MMROLE_SIZES",
        real_loader="lam_envs.data.real.mmrole:load_mmrole_with_report",
        real_files=(
            RealFile("dialogues", "MMRole in-distribution dialogues", many=True),
            RealFile("ood_dialogues", "MMRole out-of-distribution dialogues", many=True),
            RealFile(
                "profiles", "MMRole profile directories/files", many=True,
                required="profile directories or profiles.json",
            ),
        ),
        rule_judge="lam_envs.rewards.rules.mmrole:MMRoleRuleJudge",
        judge_prompt="lam_envs.rewards.llm.prompts:mmrole_judge_prompt",
        persona_summary="lam_envs.data.personas:character_summary",
        persona_from_text="lam_envs.data.personas:character_from_text",
        system_message="lam_envs.data.prompts:character_system_message",
        persona_key="lam_envs.data.personas:character_key",
        rubric_prompt="lam_envs.rewards.llm.prompts:mmrole_rubric_prompt",
        user_prompt="lam_envs.rewards.llm.prompts:mmrole_user_prompt",
        persona_line="lam_envs.data.personas:character_line",
        assistant_speaker="lam_envs.data.personas:character_speaker",
        self_check_kinds="lam_envs.rewards.selfcheck:MMROLE_KINDS",
        rule_judge_version=2,
    ),
    "pcogalign": TaskSpec(
        name="pcogalign",
        title="PCogAlign",
        seed_code=2,
        dimensions=(
            "role_set_sensitivity",
            "body_behavior_awareness",
            "mind_feelings_awareness",
            "contextual_awareness",
            "conversational_flow",
        ),
        image_dimension="contextual_awareness",
        generator="lam_envs.data.synthetic.pcogalign:pcogalign_samples",
        sizes="lam_envs.data.synthetic.pcogalign:PCOGALIGN_SIZES",
        real_loader="lam_envs.data.real.pcogalign:load_pcogalign_with_report",
        real_files=(
            RealFile("train", "PCogAlignBench train file (sft, rl)"),
            RealFile("test_id", "PCogAlignBench in-distribution test file"),
            RealFile("test_ood", "PCogAlignBench out-of-distribution test file"),
        ),
        rule_judge="lam_envs.rewards.rules.pcogalign:PCogAlignRuleJudge",
        judge_prompt="lam_envs.rewards.llm.prompts:pcogalign_judge_prompt",
        persona_summary="lam_envs.data.personas:user_summary",
        persona_from_text="lam_envs.data.personas:user_from_text",
        system_message="lam_envs.data.prompts:user_system_message",
        persona_key="lam_envs.data.personas:user_key",
        followups="lam_envs.data.synthetic.pcogalign:pcogalign_followups",
        rubric_prompt="lam_envs.rewards.llm.prompts:pcogalign_rubric_prompt",
        user_prompt="lam_envs.rewards.llm.prompts:pcogalign_user_prompt",
        persona_line="lam_envs.data.personas:user_line",
        self_check_kinds="lam_envs.rewards.selfcheck:PCOGALIGN_KINDS",
    ),
}
"""The tasks, by name. Built-in ids and :data:`~lam_envs.data.types.TASKS` follow its order."""


def task_names() -> tuple[str, ...]:
    """The registered tasks' names, in registry order (read now, so tasks registered later are included)."""
    return tuple(TASK_REGISTRY)


def task_spec(name: str) -> TaskSpec:
    """The registry entry of task ``name``.

    Raises:
        ValueError: naming the valid tasks.
    """
    try:
        return TASK_REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; expected one of: {', '.join(TASK_REGISTRY)}") from None
