"""``lam train``, ``lam eval`` and ``lam chat`` through their command modules, and the chat agent."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lam_agents.chat import ChatAgent, make_persona
from lam_agents.commands import chat, evaluate, train
from lam_agents.evaluate import evaluate_run, format_scores


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


def test_eval_reports_every_dimension_with_mean_and_std(run_dir: Path, capsys: pytest.CaptureFixture) -> None:
    rows = evaluate_run(str(run_dir), splits=("test_id", "test_ood"), n=3, samples_per_prompt=2, seed=1)
    assert [r.split for r in rows] == ["test_id", "test_ood"]
    for row in rows:
        assert len(row.dimensions) == 8 and row.n_prompts == 3 and row.judge_failures == 0
        assert all(s >= 0 and not math.isnan(m) for m, s in row.dimensions.values())
    assert "TOTAL" in format_scores(rows)
    again = evaluate_run(str(run_dir), splits=("test_id",), n=3, samples_per_prompt=2, seed=1)
    assert again[0].total == rows[0].total  # seeded sampling: the same numbers twice
    parser = argparse.ArgumentParser()
    evaluate.register(parser.add_subparsers())
    args = parser.parse_args(["eval", "--model", str(run_dir), "--split", "test_ood", "--n", "2",
                              "--samples-per-prompt", "1"])
    assert args.func(args) == 0 and "test_ood: 2 prompts x 1 samples" in capsys.readouterr().out


def test_chat_agent_answers_a_sample_and_an_image(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    agent = ChatAgent.from_run(run_dir)
    text = agent.reply(Image.new("RGB", (40, 40), "red"), "What do you see?", "Captain Mira")
    assert isinstance(text, str)
    assert agent.reply(Image.new("RGB", (40, 40), "red"), "What do you see?", "Captain Mira") == text
    parser = argparse.ArgumentParser()
    chat.register(parser.add_subparsers())
    args = parser.parse_args(["chat", "--model", str(run_dir), "--index", "1"])
    assert args.func(args) == 0 and "AGENT:" in capsys.readouterr().out
    image = tmp_path / "x.png"
    Image.new("RGB", (40, 40), "blue").save(image)
    args = parser.parse_args(["chat", "--model", str(run_dir), "--image", str(image), "--text", "Hi"])
    assert args.func(args) == 0


def test_personas_from_short_descriptions() -> None:
    assert make_persona("mmrole", "Mira").name == "Mira"  # type: ignore[union-attr]
    user = make_persona("pcogalign", "home: parent; community: volunteer")
    assert user.roles == {"home": "parent", "community": "volunteer"}  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="role set"):
        make_persona("pcogalign", "nothing here")
