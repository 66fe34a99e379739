"""The task registry: every entry is complete, and a new task works everywhere once it has an entry."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import typing
from collections.abc import Mapping
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from lam_envs.data.dialogue import Exchange, dialogue_script, turn_sample, whole_dialogues
from lam_envs.data.prompts import sample_messages, system_message
from lam_envs.data.real.errors import LoadReport
from lam_envs.data.synthetic import synthetic_samples
from lam_envs.data.synthetic.seeding import seed_code
from lam_envs.data.types import TASKS, Persona, Sample, Split, Turn
from lam_envs.envs import render
from lam_envs.envs import resolve as resources
from lam_envs.envs.config import ConversationConfig
from lam_envs.envs.registration import ENTRY_POINT, ENV_IDS, TASK_NAMES
from lam_envs.rewards import selfcheck
from lam_envs.rewards.base import DIMENSIONS, JudgeResult, Reward
from lam_envs.rewards.llm.prompts import build_messages
from lam_envs.rewards.rules import rule_judge, synthetic_corpus
from lam_envs.tasks import TASK_REGISTRY, RealFile, TaskSpec, resolve, task_names, task_spec

# --- every registered task has every field -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TASK_REGISTRY))
def test_every_task_entry_is_complete_and_resolves(name: str) -> None:
    spec = task_spec(name)
    assert spec.name == name and spec.title
    for f in dataclasses.fields(TaskSpec):
        optional = f.default is None  # e.g. followups: a task whose samples are whole dialogues needs none
        assert optional or getattr(spec, f.name), f"{name}: field {f.name} is empty"
    assert len(set(spec.dimensions)) == len(spec.dimensions) and all(isinstance(d, str) for d in spec.dimensions)
    assert spec.image_dimension in spec.dimensions
    refs = (spec.generator, spec.real_loader, spec.rule_judge, spec.judge_prompt, spec.persona_summary,
            spec.persona_from_text, spec.system_message, spec.persona_key, spec.rubric_prompt, spec.user_prompt,
            spec.persona_line, *spec.degraded_kinds().values())  # fmt: skip
    for ref in refs:
        assert callable(resolve(ref)), f"{name}: {ref!r} is not callable"
    assert list(spec.degraded_kinds())[:2] == ["reference", "paraphrase"]
    sizes = spec.split_sizes()
    assert isinstance(sizes, Mapping) and set(sizes) == set(Split) and all(v > 0 for v in sizes.values())
    # The files a command line offers are keywords the loader takes.
    loader_params = inspect.signature(resolve(spec.real_loader)).parameters
    assert {"split", "seed", "on_error", "image_root"} <= set(loader_params)
    assert all(file.keyword in loader_params for file in spec.real_files)


@pytest.mark.parametrize("name", list(TASK_REGISTRY))
def test_every_task_entry_generates_judges_prompts_and_summarises(name: str) -> None:
    spec = task_spec(name)
    samples = spec.generate("rl", seed=0, n=2)
    assert [s.task for s in samples] == [name, name] and samples == synthetic_samples(name, "rl", n=2)
    judge = rule_judge(name)
    assert judge.task == name and tuple(judge.dimensions) == spec.dimensions
    assert not judge.score(samples[:1], [samples[0].reference])[0].failed
    system, user = spec.prompt(samples[0], "a reply")
    assert all(d in system for d in spec.dimensions) and "a reply" in user
    without_reference = dataclasses.replace(samples[0], reference="")
    system, user = spec.rubric_prompt_for(without_reference, "a reply")
    assert all(d in system for d in spec.dimensions) and "a reply" in user and samples[0].reference not in user
    system, user = spec.user_prompt_for(samples[0], "a reply")
    assert system and "a reply" in user and samples[0].query in user
    assert spec.summarise(samples[0]).strip()
    assert type(spec.parse_persona("home: parent")) is type(samples[0].persona)
    # What the agent is shown and how an episode is drawn, from the entry alone.
    full = spec.system_message_for(samples[0], "full")
    assert full == system_message(samples[0]) == sample_messages(samples[0])[0][1]
    assert len(spec.system_message_for(samples[0], "compact")) < len(system_message(samples[0]))
    assert samples[0].persona_key == spec.persona_key_for(samples[0]) and samples[0].persona_key.strip()
    assert render.persona_line(samples[0]) == spec.persona_line_for(samples[0]) and render.persona_line(samples[0])
    assert spec.assistant_speaker_for(samples[0]).strip()


def test_seed_codes_are_unique_and_pinned() -> None:
    """A task's seed code is part of every synthetic sample's seed: changing one changes the shipped data."""
    codes = [spec.seed_code for spec in TASK_REGISTRY.values()] + [seed_code("paired"), seed_code("text")]
    assert len(set(codes)) == len(codes)
    assert (seed_code("mmrole"), seed_code("pcogalign")) == (1, 2)


def test_the_registry_is_where_task_names_dimensions_and_ids_come_from() -> None:
    assert TASKS == task_names() == ("mmrole", "pcogalign")
    assert DIMENSIONS == {name: spec.dimensions for name, spec in TASK_REGISTRY.items()}
    assert TASK_NAMES == {"mmrole": "MMRole", "pcogalign": "PCogAlign"}
    assert "lam/PCogAlign-Token-v0" in ENV_IDS


def test_an_unknown_task_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown task 'chess'; expected one of: mmrole, pcogalign"):
        task_spec("chess")
    with pytest.raises(ValueError, match="unknown task 'chess'"):
        synthetic_samples("chess", "rl")
    with pytest.raises(ValueError, match="unknown task 'chess'"):
        rule_judge("chess")
    with pytest.raises(ValueError, match="module:attribute"):
        resolve("no_colon_here")


# --- a third task: one entry (and its own persona type), nothing else -------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pet:
    """The toy task's persona, a type no module of the package knows: the pet the agent speaks for."""

    name: str
    species: str


TOY_SIZES = {Split.SFT: 4, Split.RL: 3, Split.TEST_ID: 2, Split.TEST_OOD: 2}


def toy_samples(split: Split | str, *, seed: int = 0, n: int | None = None) -> list[Sample]:
    """A toy task: MMRole's scenes and dialogues, each character's turned into a pet (``n`` beyond the split's size
    is an error)."""
    split = Split.parse(split)
    n = TOY_SIZES[split] if n is None else n
    if n > TOY_SIZES[split]:
        raise ValueError(f"the toy {split.value} split holds {TOY_SIZES[split]} samples")
    base = synthetic_samples("mmrole", split, seed=seed, n=n)
    return [dataclasses.replace(s, id=f"toy-{i}", task="toy", persona=Pet(s.persona.name, "cat"))  # type: ignore
            for i, s in enumerate(base)]  # fmt: skip


def load_toy(*, toy_file: Path | None, image_root: Path, split: Split | str, seed: int = 0,
             on_error: str = "raise") -> tuple[list[Sample], LoadReport]:  # fmt: skip
    n = int(Path(toy_file).read_text()) if toy_file is not None else 0
    report = LoadReport(task="toy", split=Split.parse(split).value, records=n, samples=n)
    return toy_samples(split, seed=seed, n=n), report


class ToyJudge:
    """Scores a reply by its length relative to the reference's; remembers its corpus."""

    task = "toy"
    dimensions = ("length",)

    def __init__(self, corpus: tuple[str, ...]) -> None:
        self.corpus = corpus

    def score(self, samples, replies):  # noqa: ANN001, ANN201
        return [JudgeResult({"length": min(10.0, len(r.split()))}, {"length": min(10.0, len(s.reference.split()))})
                for s, r in zip(samples, replies)]  # fmt: skip


def toy_system_message(sample: Sample, style: str) -> str:
    pet = sample.persona
    assert isinstance(pet, Pet)  # the toy task's own functions know its persona type
    return f"You are {pet.name} the {pet.species}." + ("" if style == "compact" else " Purr about the image.")


TOY_KINDS = selfcheck.degraded_kinds(
    paraphrase=lambda sample, others, rng: sample.reference.upper(),
    signature=lambda sample: "Meow!",
    persona_words=lambda sample: [sample.persona.name, sample.persona.species],
)

TOY = TaskSpec(
    name="toy",
    title="Toy",
    seed_code=99,
    dimensions=("length",),
    image_dimension="length",
    generator=toy_samples,
    sizes=TOY_SIZES,
    real_loader=load_toy,
    real_files=(RealFile("toy_file", "a file that holds how many toy samples to load", required="a count file"),),
    rule_judge=ToyJudge,
    judge_prompt=lambda sample, reply: ("Score length. Dimensions: length", f"A: {sample.reference}\nB: {reply}"),
    persona_summary=lambda sample: f"toy persona of {sample.id}",
    persona_from_text=lambda text: Pet(f"Toy {text}", "dog"),
    system_message=toy_system_message,
    persona_key=lambda sample: f"pet:{sample.persona.name}",
    persona_line=lambda sample: f"Pet: {sample.persona.name} ({sample.persona.species})",
    assistant_speaker=lambda sample: sample.persona.name,
    self_check_kinds=TOY_KINDS,
)
TOY_ENV_ID = "lam/Toy-Token-v0"


@pytest.fixture()
def toy(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(TASK_REGISTRY, "toy", TOY)
    monkeypatch.setattr(resources, "_RULE_JUDGES", {})
    yield TOY
    synthetic_corpus.cache_clear()


def test_a_registered_toy_task_works_through_data_judges_and_env_resources(toy: TaskSpec, tmp_path: Path) -> None:
    assert "toy" in task_names()
    samples = synthetic_samples("toy", "rl", n=2)
    assert [s.task for s in samples] == ["toy", "toy"]
    judge = rule_judge("toy")
    assert isinstance(judge, ToyJudge) and isinstance(judge, Reward)
    assert len(judge.corpus) == sum(1 + len(s.dialogue) for split in Split for s in toy_samples(split))
    assert judge.score(samples[:1], ["one two"])[0].candidate == {"length": 2.0}
    messages = build_messages(samples[0], "one two", None)
    assert messages[0]["content"].startswith("Score length") and "B: one two" in messages[1]["content"][-1]["text"]
    # What an env draws its episodes from and is paid by.
    assert resources.resolve_samples("toy", ConversationConfig(split="rl", num_samples=3)) == toy_samples("rl")
    (tmp_path / "count.txt").write_text("2")
    dataset = {"toy_file": tmp_path / "count.txt", "image_root": tmp_path}
    assert len(resources.resolve_samples("toy", ConversationConfig(split="sft", dataset=dataset))) == 2
    with pytest.raises(TypeError, match="do not fit load_toy"):
        resources.resolve_samples("toy", ConversationConfig(split="sft", dataset={"nope": 1}))
    assert resources.resolve_reward("toy", "rule") is resources.resolve_reward("toy", "rule")
    assert seed_code("toy") == 99


def test_a_toy_persona_type_is_prompted_rendered_keyed_and_self_checked_through_its_entry(toy: TaskSpec) -> None:
    samples = toy_samples("rl")
    pet = samples[0].persona
    assert isinstance(pet, Pet)
    # Prompts: the entry's system message, in both styles, before the dialogue.
    messages = sample_messages(samples[0], "full")
    assert messages[0] == ("system", f"You are {pet.name} the cat. Purr about the image.")
    assert [m[1] for m in messages[1:]] == [t.text for t in samples[0].dialogue]
    assert sample_messages(samples[0], "compact")[0] == ("system", f"You are {pet.name} the cat.")
    # Rendering: the entry's persona line in the transcript and the frame.
    assert render.transcript(samples[0], "hi", finished=True).startswith(f"[toy toy-0] Pet: {pet.name} (cat)\n")
    assert render.frame(samples[0], "hi").shape == (render.FRAME_HEIGHT, render.FRAME_HEIGHT + render.TEXT_WIDTH, 3)
    # Persona keys: the entry's, as the dialogue tools and the self-check use them.
    assert [s.persona_key for s in samples] == [f"pet:{s.persona.name}" for s in samples]
    assert whole_dialogues(samples) == samples
    # A dialogue episode's agent turns go under the entry's assistant speaker.
    opening = dataclasses.replace(samples[0], dialogue=(Turn("user", "Human", "Hi!"),))
    script = dialogue_script(opening, [Exchange((Turn("user", "Human", "And then?"),), None)])
    assert turn_sample(opening, script, 1, ["Purr."]).dialogue[1] == Turn("assistant", pet.name, "Purr.")
    # The self-check: the entry's kinds, in order, the persona-dependent ones from the toy's own parts.
    reports = selfcheck.self_check_report(ToyJudge(()), samples, seed=0)
    assert [r.kind for r in reports] == list(TOY_KINDS) and all(r.failures == 0 for r in reports)
    by_kind = {r.kind: r.mean for r in reports}
    assert by_kind["reference"] == 1.0 and by_kind["empty"] == 0.0
    others = samples[1:]
    assert TOY_KINDS["other_character"](samples[0], others, np.random.default_rng(0)) in {o.reference for o in others}
    assert TOY_KINDS["catchphrase_spam"](samples[0], others, np.random.default_rng(0)).endswith("Meow!")
    assert set(TOY_KINDS["persona_word_list"](samples[0], others, np.random.default_rng(0)).lower()[:-1].split(
        ", ")) == {pet.name.lower(), "cat"}  # fmt: skip
    # A persona of the task's type is taken as it is; a description goes through the entry.
    from lam_agents.chat import make_persona

    assert make_persona("toy", pet) is pet and make_persona("toy", "Rex") == Pet("Toy Rex", "dog")


def test_a_task_without_a_self_check_says_which_field_to_add(toy: TaskSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TASK_REGISTRY, "toy", dataclasses.replace(TOY, self_check_kinds=None))
    with pytest.raises(ValueError, match=r"task 'toy' has no judge self-check \(no self_check_kinds in its "
                       r"TaskSpec\); add self_check_kinds="):  # fmt: skip
        selfcheck.self_check_report(ToyJudge(()), toy_samples("rl"))
    # Without a persona_line a rendered episode shows the persona_summary's line; without an assistant_speaker the
    # agent's turns go under "Assistant".
    bare = dataclasses.replace(TOY, persona_line=None, assistant_speaker=None)
    monkeypatch.setitem(TASK_REGISTRY, "toy", bare)
    sample = toy_samples("rl", n=1)[0]
    assert render.persona_line(sample) == "toy persona of toy-0"
    assert bare.assistant_speaker_for(sample) == "Assistant"
    with pytest.raises(TypeError, match="system_message"):
        TaskSpec(**{f.name: getattr(TOY, f.name) for f in dataclasses.fields(TaskSpec) if f.name != "system_message"})


def test_a_toy_task_plays_an_episode_through_gym_make(toy: TaskSpec, tiny_qwen_dir: Path) -> None:
    gym.register(id=TOY_ENV_ID, entry_point=ENTRY_POINT, kwargs={"task": "toy", "action_space": "token"})
    try:
        env = gym.make(TOY_ENV_ID, backbone=str(tiny_qwen_dir), max_reply_tokens=3, render_mode="ansi")
        obs, info = env.reset(seed=0)
        sample = env.unwrapped.sample
        assert sample.task == "toy" and isinstance(sample.persona, Pet)
        done, steps = False, 0
        while not done:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            done, steps = terminated or truncated, steps + 1
        assert steps <= 3 and np.isfinite(reward) and "reply" in info
        assert env.render().startswith(f"[toy {sample.id}] Pet: {sample.persona.name} (cat)\n")
        env.close()
    finally:
        del gym.registry[TOY_ENV_ID]


def test_a_registered_toy_task_works_in_lam_data_show_and_lam_judge(
    toy: TaskSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from lam_agents import cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("data", "judge"))
    assert cli.main(["data", "show", "--task", "toy", "--n", "2", "--out", str(tmp_path / "syn")]) == 0
    out = capsys.readouterr().out
    assert "== toy / rl (synthetic): 2 of 2 samples" in out and "persona: toy persona of toy-1" in out
    real = ["data", "show", "--task", "toy", "--source", "real", "--image-root", str(tmp_path), "--out", str(tmp_path)]
    assert cli.main(real) == 2
    assert "--task toy --source real needs --toy-file (a count file)" in capsys.readouterr().err
    (tmp_path / "count.txt").write_text("1")
    assert cli.main([*real, "--toy-file", str(tmp_path / "count.txt")]) == 0
    assert "== toy / rl (real): 1 of 1 samples" in capsys.readouterr().out
    assert cli.main(["judge", "--task", "toy", "--reply", "one two three", "--index", "1"]) == 0
    out = capsys.readouterr().out
    assert "sample toy-1" in out and "length" in out


# --- nothing outside the registry tells the tasks apart ------------------------------------------------------------

PERSONA_TYPES = frozenset(t.__name__ for t in typing.get_args(Persona))
"""The built-in tasks' persona types (``CharacterProfile``, ``UserProfile``)."""


def _is_task_name(node: ast.AST | None, tasks: frozenset[str]) -> bool:
    """A task's name as a literal, or a tuple, list or set literal holding one."""
    if isinstance(node, ast.Constant):
        return node.value in tasks
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(_is_task_name(e, tasks) for e in node.elts)


def _type_names(node: ast.AST) -> set[str]:
    """The class names in ``isinstance``'s second argument (``CharacterProfile``, ``types.UserProfile``, a tuple)."""
    if isinstance(node, ast.Tuple):
        return set().union(*(_type_names(e) for e in node.elts))
    return {node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")}


def _persona_checks(test: ast.AST) -> list[bool]:
    """For each ``isinstance(x, <persona type>)`` in ``test``: whether it is negated (``not isinstance(...)``)."""
    negated = {id(n.operand) for n in ast.walk(test) if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not)}
    return [id(n) in negated for n in ast.walk(test)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "isinstance"
            and len(n.args) == 2 and _type_names(n.args[1]) & PERSONA_TYPES]  # fmt: skip


def task_dispatch(source: str, tasks: frozenset[str]) -> list[tuple[int, str]]:
    """Where ``source`` tells tasks apart by hand: ``(line, what)`` for each comparison with a task's name
    (``task == "mmrole"``, ``task in ("mmrole", ...)``, ``case "mmrole":``), table keyed by task names, and branch on
    a persona's type (``if isinstance(persona, CharacterProfile)``, in an ``if``, a conditional expression, a
    comprehension or a ``case CharacterProfile():``). A guard that only raises (``if not isinstance(p, UserProfile):
    raise TypeError(...)``) and an ``assert`` check a type without choosing what to do by it, and are allowed."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(_is_task_name(o, tasks) for o in (node.left, *node.comparators)):
            found.append((node.lineno, "compares with a task name"))
        elif isinstance(node, ast.MatchValue) and _is_task_name(node.value, tasks):
            found.append((node.lineno, "matches a task name"))
        elif isinstance(node, ast.Dict) and any(_is_task_name(k, tasks) for k in node.keys):
            found.append((node.lineno, "a table keyed by task names"))
        elif isinstance(node, ast.MatchClass) and _type_names(node.cls) & PERSONA_TYPES:
            found.append((node.lineno, "matches a persona type"))
        elif isinstance(node, (ast.If, ast.IfExp, ast.While, ast.comprehension)):
            tests = node.ifs if isinstance(node, ast.comprehension) else [node.test]
            guard = (isinstance(node, ast.If) and not node.orelse and len(node.body) == 1
                     and isinstance(node.body[0], ast.Raise))  # fmt: skip
            for test in tests:
                if any(not (guard and negated) for negated in _persona_checks(test)):
                    found.append((test.lineno, "branches on a persona type"))
    return sorted(found)


def test_no_module_outside_the_registry_dispatches_on_a_task_or_its_persona_type() -> None:
    """What differs by task is in its :class:`TaskSpec` entry; a module named after a task (``rules/mmrole.py``) is
    that task's own and may know its persona type."""
    import lam_agents
    import lam_envs

    tasks = frozenset(task_names())
    repo = Path(lam_envs.__file__).parent.parent
    files = [*Path(lam_envs.__file__).parent.rglob("*.py"), *Path(lam_agents.__file__).parent.rglob("*.py")]
    registry = Path(lam_envs.__file__).parent / "tasks.py"
    checked = [p for p in sorted(files) if p != registry and p.stem not in tasks]
    assert len(checked) > 50 and PERSONA_TYPES == {"CharacterProfile", "UserProfile"}
    found = {str(p.relative_to(repo)): task_dispatch(p.read_text(), tasks) for p in checked}
    assert {path: sites for path, sites in found.items() if sites} == {}


def test_the_dispatch_check_sees_every_form() -> None:
    tasks = frozenset({"mmrole", "pcogalign"})
    source = """
if task == "mmrole": pass
if sample.task in ("pcogalign", "x"): pass
KINDS = {"mmrole": 1}
line = a if isinstance(persona, CharacterProfile) else b
names = [p for p in ps if isinstance(p, types.UserProfile)]
if isinstance(spec, (CharacterProfile, UserProfile)):
    pass
match task:
    case "pcogalign":
        pass
match persona:
    case CharacterProfile():
        pass
if not isinstance(persona, UserProfile):
    return None
"""
    assert [line for line, _ in task_dispatch(source, tasks)] == [2, 3, 4, 5, 6, 7, 10, 13, 15]
    allowed = """
if not isinstance(persona, UserProfile) or sample.scene is None:
    raise TypeError("needs a UserProfile")
assert isinstance(persona, CharacterProfile)
if sample.task != self.task: pass
spec = TASK_REGISTRY[name]
"""
    assert task_dispatch(allowed, tasks) == []
