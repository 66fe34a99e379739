"""``lam train``, ``lam eval`` and ``lam chat`` through their command modules, and the chat agent."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest
from PIL import Image

from lam_agents.chat import ChatAgent, make_persona
from lam_agents.commands import chat, evaluate, train
from lam_agents.envs import make_vec_env
from lam_agents.evaluate import answer_prompts, evaluate_run, format_scores
from lam_envs.data.types import Sample
from lam_envs.envs.config import ConversationConfig
from lam_envs.envs.resolve import resolve_samples
from lam_envs.rewards.base import MMROLE_DIMENSIONS, JudgeResult


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, tiny_env_kwargs: dict[str, Any]) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    parser = argparse.ArgumentParser()
    train.register(parser.add_subparsers())
    args = parser.parse_args(["train", "--env", "lam/MMRole-Latent-v0", "--algo", "PPO", "--steps", "16", "--n-envs",
                              "2", "--fair-start", "--kl-beta", "0.01", "--out", str(out), "--no-progress",
                              "--env-kwargs", json.dumps(tiny_env_kwargs), "--hyperparams", str(_yml(out.parent))])
    assert args.func(args) == 0
    return out


def _yml(folder: Path) -> Path:
    path = folder / "ppo_small.yml"
    path.write_text("default:\n  n_steps: 8\n  batch_size: 16\n  n_epochs: 1\n")
    return path


class ReplyCodeJudge:
    """A judge whose scores depend on every character of the reply (the rule judge gives the tiny model's gibberish 0
    on every dimension, which would make any mean and std 0)."""

    task = "mmrole"
    dimensions = MMROLE_DIMENSIONS

    def score(self, samples: Sequence[Sample], replies: Sequence[str]) -> list[JudgeResult]:
        code = [sum(map(ord, r)) for r in replies]
        return [JudgeResult({d: float((c + i) % 11) for i, d in enumerate(self.dimensions)},
                            dict.fromkeys(self.dimensions, 10.0)) for c in code]


def test_eval_reports_every_dimension_with_mean_and_std(run_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    rows = evaluate_run(str(run_dir), splits=("test_id", "test_ood"), n=3, samples_per_prompt=2, seed=1)
    assert [r.split for r in rows] == ["test_id", "test_ood"]
    for row in rows:
        assert list(row.dimensions) == list(MMROLE_DIMENSIONS) and row.n_prompts == 3 and row.judge_failures == 0
        assert len(row.replies) == 4 and 1 <= row.mean_reply_tokens <= 4  # 2 replies per round, <= 4 tokens each
    table = format_scores(rows)
    assert "TOTAL" in table and all(d in table for d in MMROLE_DIMENSIONS)
    again = evaluate_run(str(run_dir), splits=("test_id",), n=3, samples_per_prompt=2, seed=1)
    assert again[0].total == rows[0].total and again[0].replies == rows[0].replies  # seeded sampling: the same twice
    parser = argparse.ArgumentParser()
    evaluate.register(parser.add_subparsers())
    scores = tmp_path / "scores.json"
    args = parser.parse_args(["eval", "--model", str(run_dir), "--split", "test_ood", "--n", "2",
                              "--samples-per-prompt", "1", "--json", str(scores)])
    assert args.func(args) == 0 and "test_ood: 2 prompts x 1 samples" in capsys.readouterr().out
    (cli,) = json.loads(scores.read_text())
    (direct,) = evaluate_run(str(run_dir), splits=("test_ood",), n=2, samples_per_prompt=1, seed=0)
    assert cli["total"] == list(direct.total) and cli["replies"] == direct.replies


def test_eval_std_is_over_sampling_rounds(run_dir: Path) -> None:
    judge = {"reward": ReplyCodeJudge()}
    both = evaluate_run(str(run_dir), splits=("test_id",), n=3, samples_per_prompt=2, seed=1, env_overrides=judge)[0]
    # Round r of a run seeded s is the single round of a run seeded s + r.
    rounds = [evaluate_run(str(run_dir), splits=("test_id",), n=3, samples_per_prompt=1, seed=s,
                           env_overrides=judge)[0] for s in (1, 2)]
    assert all(r.total[1] == 0 for r in rounds)  # one round: nothing to spread over
    totals = [r.total[0] for r in rounds]
    assert totals[0] != totals[1]  # the two rounds sampled different replies
    assert both.total == pytest.approx((np.mean(totals), np.std(totals))) and both.total[1] > 0
    for dim, (mean, std) in both.dimensions.items():
        values = [r.dimensions[dim][0] for r in rounds]
        assert (mean, std) == pytest.approx((np.mean(values), np.std(values))), dim
    # Greedy actions write the same replies every round, so every std is exactly 0.
    greedy = evaluate_run(str(run_dir), splits=("test_id",), n=3, samples_per_prompt=3, seed=1, deterministic=True,
                          env_overrides=judge)[0]
    assert greedy.total[1] == 0 and all(std == 0 for _, std in greedy.dimensions.values())
    assert greedy.replies[:2] == greedy.replies[2:4] == greedy.replies[4:]


def test_chat_agent_writes_what_its_env_would(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    agent = ChatAgent.from_run(run_dir)
    # On test samples the agent writes, token for token, the greedy reply of an env rollout under the same policy.
    config = ConversationConfig(**{**vars(agent.config), "split": "test_id"})
    samples = resolve_samples("mmrole", config)
    venv = make_vec_env(agent.env_id, 2, 0, {**vars(agent.config), "split": "test_id"})
    rollout = [info["reply"] for info in answer_prompts(agent.model, venv, range(4), deterministic=True)]
    venv.close()
    assert [agent.reply_to(s) for s in samples[:4]] == rollout and all(rollout)
    # Its own image and message: a non-empty reply, the same twice, and one that depends on what it is shown.
    red = Image.new("RGB", (40, 40), "red")
    text = agent.reply(red, "What do you see?", "Captain Mira")
    assert text and agent.reply(red, "What do you see?", "Captain Mira") == text
    replies = {agent.reply(Image.new("RGB", (40, 40), c), q, "Captain Mira")
               for c in ("red", "blue", "white") for q in ("What do you see?", "Tell me a story about the sea")}
    assert len(replies) > 1
    parser = argparse.ArgumentParser()
    chat.register(parser.add_subparsers())
    args = parser.parse_args(["chat", "--model", str(run_dir), "--index", "1"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"AGENT: {rollout[1]}\nREFERENCE: {samples[1].reference}" in out and samples[1].dialogue[-1].text in out
    image = tmp_path / "x.png"
    Image.new("RGB", (40, 40), "blue").save(image)
    args = parser.parse_args(["chat", "--model", str(run_dir), "--image", str(image), "--text", "Hi"])
    assert args.func(args) == 0
    assert capsys.readouterr().out == agent.reply(Image.open(image), "Hi", "Captain Mira") + "\n"


def test_personas_from_short_descriptions() -> None:
    assert make_persona("mmrole", "Mira").name == "Mira"  # type: ignore[union-attr]
    user = make_persona("pcogalign", "home: parent; community: volunteer")
    assert user.roles == {"home": "parent", "community": "volunteer"}  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="role set"):
        make_persona("pcogalign", "nothing here")


@pytest.mark.parametrize("argv", [["--n-envs", "3", "--workers", "2"], ["--worker-timeout", "0"]])
def test_train_refuses_bad_worker_settings_in_one_line(argv: list[str], tmp_path: Path) -> None:
    """n_envs must split over the workers and the timeout be positive: a SystemExit naming the fix, no traceback,
    before any worker starts."""
    parser = argparse.ArgumentParser()
    train.register(parser.add_subparsers())
    args = parser.parse_args(["train", "--env", "lam/MMRole-Latent-v0", "--out", str(tmp_path / "run"), *argv])
    with pytest.raises(SystemExit, match="--n-envs or --workers|--worker-timeout") as exc:
        args.func(args)
    assert str(exc.value).startswith("lam train: ") and "\n" not in str(exc.value)
    assert not (tmp_path / "run").exists()
