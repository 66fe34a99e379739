"""Agents on dialogue envs: ``lam train`` trains, ``lam eval`` reports per-turn and whole-dialogue scores, and
``lam chat`` holds a conversation turn after turn."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lam_agents.chat import ChatAgent
from lam_agents.commands import chat, train
from lam_agents.envs import make_vec_env
from lam_agents.evaluate import answer_dialogues, evaluate_run, format_scores
from lam_envs.data.dialogue import dialogue_scripts
from lam_envs.envs.config import ConversationConfig
from lam_envs.envs.resolve import resolve_samples


@pytest.fixture(scope="module")
def dialogue_run(tmp_path_factory: pytest.TempPathFactory, tiny_env_kwargs: dict[str, Any]) -> Path:
    out = tmp_path_factory.mktemp("dialogue") / "run"
    hyper = out.parent / "ppo.yml"
    hyper.write_text("default:\n  n_steps: 8\n  batch_size: 16\n  n_epochs: 1\n  gamma: 0.995\n")
    parser = argparse.ArgumentParser()
    train.register(parser.add_subparsers())
    args = parser.parse_args(["train", "--env", "lam/MMRole-Dialogue-Latent-v0", "--algo", "PPO", "--steps", "32",
                              "--n-envs", "2", "--fair-start", "--out", str(out), "--no-progress",
                              "--env-kwargs", json.dumps(tiny_env_kwargs), "--hyperparams", str(hyper)])
    assert args.func(args) == 0
    return out


def test_eval_reports_each_turn_and_the_whole_dialogue(dialogue_run: Path) -> None:
    (row,) = evaluate_run(str(dialogue_run), splits=("test_id",), n=3, samples_per_prompt=2, seed=1)
    assert len(row.turns) >= 2 and all(np.isfinite(m) for m, _ in row.turns)
    table = format_scores([row])
    assert "turn 1" in table and "turn 2" in table and "WHOLE DIALOGUE" in table
    # The whole-dialogue score is the mean over dialogues of each dialogue's mean reply ratio.
    agent = ChatAgent.from_run(dialogue_run)
    venv = make_vec_env(agent.env_id, 3, 1, {**vars(agent.config), "split": "test_id", "num_samples": 3})
    import torch

    episodes = answer_dialogues(agent.model, venv, range(3), deterministic=True)
    venv.close()
    assert all(len(e) >= 2 and [i["turn"] for i in e] == list(range(len(e))) for e in episodes)
    greedy = evaluate_run(str(dialogue_run), splits=("test_id",), n=3, samples_per_prompt=1, deterministic=True)[0]
    expected = np.mean([np.mean([i["judge_ratio"] for i in e]) for e in episodes])
    assert greedy.total[0] == pytest.approx(expected)
    assert torch.is_grad_enabled()


def test_chat_holds_a_three_turn_conversation(dialogue_run: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    agent = ChatAgent.from_run(dialogue_run)
    image = tmp_path / "scene.png"
    Image.new("RGB", (40, 40), "blue").save(image)
    conversation = agent.conversation(image, "Captain Mira")
    messages = ["Hello! What do you see?", "How many are there?", "Which one do you like best?"]
    replies = [conversation.say(m) for m in messages]
    assert all(replies) and len(conversation.turns) == 6
    assert [t.text for t in conversation.turns if t.role == "assistant"] == replies
    # The third reply answers the whole conversation so far: the agent's own replies are in its context.
    sample = agent.sample_for(image, conversation.turns[:5], "Captain Mira")
    assert agent.reply_to(sample) == replies[2]
    parser = argparse.ArgumentParser()
    chat.register(parser.add_subparsers())
    args = parser.parse_args(["chat", "--model", str(dialogue_run), "--image", str(image), "--text", *messages])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out == "".join(f"USER: {m}\nAGENT: {r}\n" for m, r in zip(messages, replies))
    # A test sample: the agent plays its whole scripted dialogue, each reply judged against its exchange's reference.
    args = parser.parse_args(["chat", "--model", str(dialogue_run), "--index", "0"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    config = ConversationConfig(**{**vars(agent.config), "split": "test_id"})
    script = dialogue_scripts(resolve_samples("mmrole", config)[:1], config.data_seed)[0]
    assert out.count("AGENT: ") == len(script) >= 2 and out.count("judge ratio: ") == len(script)
    assert all(e.reference in out for e in script.exchanges)
    # ... and its replies are the dialogue env's episode on the sample (as `lam eval` plays it).
    venv = make_vec_env(agent.env_id, 1, 0, {**vars(agent.config), "split": "test_id", "num_samples": None})
    (episode,) = answer_dialogues(agent.model, venv, [0], deterministic=True)
    venv.close()
    assert [line[len("AGENT: "):] for line in out.splitlines() if line.startswith("AGENT: ")] == [
        info["reply"] for info in episode]
    ratios = [line for line in out.splitlines() if line.startswith("judge ratio: ")]
    assert ratios == [f"judge ratio: {info['judge_ratio']:.3f}" for info in episode]
