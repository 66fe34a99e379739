"""The task registry: every entry is complete, and a new task works everywhere once it has an entry."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from pathlib import Path

import pytest

from lam_envs.data.real.errors import LoadReport
from lam_envs.data.synthetic import synthetic_samples
from lam_envs.data.synthetic.seeding import seed_code
from lam_envs.data.types import TASKS, CharacterProfile, Sample, Split
from lam_envs.envs import resolve as resources
from lam_envs.envs.config import ConversationConfig
from lam_envs.envs.registration import ENV_IDS, TASK_NAMES
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
            spec.persona_from_text, spec.rubric_prompt, spec.user_prompt)  # fmt: skip
    for ref in refs:
        assert callable(resolve(ref)), f"{name}: {ref!r} is not callable"
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


# --- a third task: one entry, nothing else --------------------------------------------------------------------

TOY_SIZES = {Split.SFT: 4, Split.RL: 3, Split.TEST_ID: 2, Split.TEST_OOD: 2}


def toy_samples(split: Split | str, *, seed: int = 0, n: int | None = None) -> list[Sample]:
    """A toy task: MMRole's samples under another name (``n`` beyond the split's size is an error)."""
    split = Split.parse(split)
    n = TOY_SIZES[split] if n is None else n
    if n > TOY_SIZES[split]:
        raise ValueError(f"the toy {split.value} split holds {TOY_SIZES[split]} samples")
    base = synthetic_samples("mmrole", split, seed=seed, n=n)
    return [dataclasses.replace(s, id=f"toy-{i}", task="toy") for i, s in enumerate(base)]  # type: ignore[arg-type]


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
    persona_from_text=lambda text: CharacterProfile(f"Toy {text}", "", "", "", "", ""),
)


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


def test_a_registered_toy_task_works_in_lam_data_show_and_lam_judge(
    toy: TaskSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from lam_agents import cli
    from lam_agents.chat import make_persona

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
    assert make_persona("toy", "Rex").name == "Toy Rex"
