from __future__ import annotations

import argparse

import numpy as np
import pytest

from lam_envs.data.synthetic import synthetic_samples
from lam_envs.rewards.rules import MMRoleRuleJudge, PCogAlignRuleJudge, rule_judge
from lam_envs.rewards.selfcheck import other_role, self_check, self_check_report, shuffled
from lam_envs.tasks import task_spec


def _small_judge(task: str):
    corpus = [s.reference for s in synthetic_samples(task, "sft", n=150)]
    return MMRoleRuleJudge(corpus) if task == "mmrole" else PCogAlignRuleJudge(corpus)


@pytest.mark.parametrize("task", ["mmrole", "pcogalign"])
def test_self_check_ranks_reference_first_small(task: str) -> None:
    result = self_check(_small_judge(task), synthetic_samples(task, "rl", n=40), seed=1)
    assert set(result) == set(task_spec(task).degraded_kinds())
    assert result["reference"][0] >= 0.99
    assert result["paraphrase"][0] >= 0.8
    for kind, (mean, _) in result.items():
        if kind not in ("reference", "paraphrase"):
            assert mean <= 0.75, (kind, mean)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["mmrole", "pcogalign"])
def test_self_check_ranking_on_200_samples(task: str) -> None:
    reports = self_check_report(rule_judge(task), synthetic_samples(task, "rl", n=200), seed=0)
    by_kind = {r.kind: r for r in reports}
    assert by_kind["reference"].mean >= 0.99
    assert by_kind["paraphrase"].mean >= 0.85
    for kind, r in by_kind.items():
        assert r.failures == 0
        if kind not in ("reference", "paraphrase"):
            assert r.mean <= 0.75, (kind, r.mean)


def test_the_template_rl_found_scores_below_a_fluent_reply_about_another_image() -> None:
    # PPO converged on this at 200k steps while the judge gave it 0.69 of the reference on average (above
    # other_image's 0.53): one skeleton naming only the place, in the character's voice, answering nothing else.
    reports = self_check_report(_small_judge("mmrole"), synthetic_samples("mmrole", "rl", n=60), seed=0,
                                kinds=["other_image", "evasive_template"])
    other_image, template = (r.mean for r in reports)
    assert template <= 0.5, template
    assert template < other_image + 0.05


def test_degraders_are_seeded_and_do_what_they_say() -> None:
    samples = synthetic_samples("pcogalign", "rl", n=5)
    a = shuffled(samples[0], samples[1:], np.random.default_rng(3))
    assert a == shuffled(samples[0], samples[1:], np.random.default_rng(3))
    assert sorted(a.split()) == sorted(samples[0].reference.split())
    moved = other_role(samples[0], samples[1:], np.random.default_rng(0))
    assert samples[0].persona.current_role not in moved


def test_self_check_validates_its_inputs() -> None:
    judge = _small_judge("mmrole")
    with pytest.raises(ValueError, match="at least two"):
        self_check(judge, synthetic_samples("mmrole", "rl", n=1))
    with pytest.raises(ValueError, match="pcogalign"):
        self_check(judge, synthetic_samples("pcogalign", "rl", n=3))
    with pytest.raises(ValueError, match="unknown degraded kinds"):
        self_check_report(judge, synthetic_samples("mmrole", "rl", n=3), kinds=["nope"])


def test_cli_self_check_and_single_reply(capsys: pytest.CaptureFixture[str]) -> None:
    from lam_agents.commands import judge

    assert judge.run(argparse.Namespace(task="pcogalign", self_check=True, n=12, seed=0)) == 0
    out = capsys.readouterr().out
    assert "other_role" in out and "reference" in out and "context" in out
    sample = synthetic_samples("pcogalign", "rl", n=3)[2]
    ns = argparse.Namespace(task="pcogalign", self_check=False, n=200, seed=0, reply=sample.reference, index=2)
    assert judge.run(ns) == 0
    assert "ratio                       1.000" in capsys.readouterr().out
    assert judge.run(argparse.Namespace(task=None, self_check=False, n=200, seed=0, reply="hi", index=0)) == 2
