from __future__ import annotations

import math
from dataclasses import replace

import pytest

from lam_envs.data.synthetic import synthetic_samples
from lam_envs.rewards.base import MMROLE_DIMENSIONS, PCOGALIGN_DIMENSIONS, Reward
from lam_envs.rewards.rules import MMRoleRuleJudge, PCogAlignRuleJudge


def _corpus(task: str) -> list[str]:
    out = []
    for s in synthetic_samples(task, "sft", n=150):
        out.append(s.reference)
        out.extend(t.text for t in s.dialogue)
    return out


@pytest.fixture(scope="module")
def mm() -> MMRoleRuleJudge:
    return MMRoleRuleJudge(_corpus("mmrole"))


@pytest.fixture(scope="module")
def pc() -> PCogAlignRuleJudge:
    return PCogAlignRuleJudge(_corpus("pcogalign"))


def test_judges_follow_the_reward_protocol(mm: MMRoleRuleJudge, pc: PCogAlignRuleJudge) -> None:
    assert isinstance(mm, Reward) and isinstance(pc, Reward)
    assert mm.dimensions == MMROLE_DIMENSIONS and pc.dimensions == PCOGALIGN_DIMENSIONS


@pytest.mark.parametrize("task", ["mmrole", "pcogalign"])
def test_reference_scores_one_and_empty_zero(task: str, mm: MMRoleRuleJudge, pc: PCogAlignRuleJudge) -> None:
    judge = mm if task == "mmrole" else pc
    samples = synthetic_samples(task, "rl", n=20)
    for res in judge.score(samples, [s.reference for s in samples]):
        assert res.ratio == pytest.approx(1.0)
        assert all(0.0 <= v <= 10.0 for v in res.candidate.values())
        assert sum(res.reference.values()) > 0
    for res in judge.score(samples, [""] * len(samples)):
        assert res.ratio == 0.0 and set(res.candidate.values()) == {0.0}


def test_wrong_answer_loses_accuracy(mm: MMRoleRuleJudge) -> None:
    sample = next(s for s in synthetic_samples("mmrole", "rl", n=200) if s.query.startswith("How many"))
    right = mm.score([sample], [sample.reference])[0]
    words = sample.reference.split()
    numbers = ("zero", "one", "two", "three", "four", "five", "six")
    wrong_text = " ".join(
        numbers[(numbers.index(w.lower().strip(".,!")) + 1) % 6] if w.lower().strip(".,!") in numbers else w
        for w in words
    )
    wrong = mm.score([sample], [wrong_text])[0]
    assert wrong.candidate["response_accuracy"] < right.candidate["response_accuracy"]
    assert wrong.ratio < right.ratio


def test_a_reply_that_leaves_the_question_unanswered_is_marked_down(mm: MMRoleRuleJudge) -> None:
    from lam_envs.data.synthetic.grammar import place_phrase
    from lam_envs.data.synthetic.questions import parse_question
    from lam_envs.rewards.rules.mmrole import EVASION_FACTOR, evades

    samples = synthetic_samples("mmrole", "rl", n=200)
    count = next(s for s in samples if parse_question(s.query).kind == "count")
    place = next(s for s in samples if parse_question(s.query).kind == "place")
    # The place alone, fluent and true of the picture: an answer to "where", no answer to "how many".
    def only_place(s):  # noqa: E306
        return f"This picture was taken {place_phrase(s.scene.location)}, no question."

    count_score, place_score = mm.score([count, place], [only_place(count), only_place(place)])
    assert evades(parse_question(count.query), ["picture", count.scene.location])
    assert not evades(parse_question(place.query), ["picture", place.scene.location])
    assert count_score.ratio < place_score.ratio
    # The factor scales every dimension of the evasive reply: undoing it gives scores up to 10 again.
    assert max(count_score.candidate.values()) <= 10.0 * EVASION_FACTOR + 1e-9
    assert count_score.candidate["response_accuracy"] == 0.0
    # Asked to describe the picture, the place alone says nothing about what is in it.
    assert evades(parse_question("Tell me about this picture."), ["picture", "park"])
    assert not evades(parse_question("Tell me about this picture."), ["red", "circle"])


def test_other_role_loses_role_set_sensitivity(pc: PCogAlignRuleJudge) -> None:
    sample = synthetic_samples("pcogalign", "rl", n=1)[0]
    role = sample.persona.current_role
    other = next(r for loc, r in sample.persona.role_set if r != role)
    res = pc.score([sample], [sample.reference.replace(role, other)])[0]
    assert res.candidate["role_set_sensitivity"] < 0.5 * res.reference["role_set_sensitivity"]


def test_no_scene_or_wrong_task_is_a_visible_failure(mm: MMRoleRuleJudge) -> None:
    sample = synthetic_samples("mmrole", "rl", n=1)[0]
    res = mm.score([replace(sample, scene=None)], [sample.reference])[0]
    assert res.failed and "scene" in (res.error or "") and math.isnan(res.ratio)
    pcs = synthetic_samples("pcogalign", "rl", n=1)
    assert mm.score(pcs, [pcs[0].reference])[0].failed
    with pytest.raises(ValueError, match="replies"):
        mm.score([sample], [])


@pytest.mark.parametrize("task", ["mmrole", "pcogalign"])
def test_a_sample_without_reference_is_refused_naming_the_llm_judge(
    task: str, mm: MMRoleRuleJudge, pc: PCogAlignRuleJudge
) -> None:
    judge = mm if task == "mmrole" else pc
    good, other = synthetic_samples(task, "rl", n=2)
    simulated = replace(other, id="sim#1", reference="")  # a simulated user's turn: no reference to compare with
    fix = r"'sim#1' has no reference.*use an LLM judge \(reward=LLMJudgeConfig\(\.\.\.\)\).*a simulated user's"
    with pytest.raises(ValueError, match=fix):
        judge.score([good, simulated], [good.reference, "any reply"])


def test_scores_are_deterministic(pc: PCogAlignRuleJudge) -> None:
    samples = synthetic_samples("pcogalign", "rl", n=10)
    replies = [s.reference[: len(s.reference) // 2] for s in samples]
    assert pc.score(samples, replies) == PCogAlignRuleJudge(_corpus("pcogalign")).score(samples, replies)


def test_the_per_sample_cache_gives_the_same_scores(mm: MMRoleRuleJudge) -> None:
    # Speed is a benchmark's business, not a test's; what the cache must never change is the scores.
    samples = synthetic_samples("mmrole", "rl", n=50)
    replies = [samples[(i + 1) % len(samples)].reference for i in range(len(samples))]
    cold = mm.score(samples, replies)
    warm = mm.score(samples * 3, replies * 3)
    assert warm == cold * 3
