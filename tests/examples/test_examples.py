"""Every example in examples/ runs end to end on tiny models with tiny budgets, and says what it should."""

from __future__ import annotations

import json
import re
import runpy
import sys
from pathlib import Path

import pytest

from lam_envs.builders.tiny import TinyQwenSizes, build_tiny_qwen2_5_vl
from lam_envs.rewards.base import MMROLE_DIMENSIONS, PCOGALIGN_DIMENSIONS

# grpo.py and ppo_latent.py show SB3's progress bar, whose tqdm.rich warns "rich is experimental/alpha" (a
# FutureWarning, an error in this suite) from inside tqdm; the examples are right to show it.
PROGRESS_BAR = pytest.mark.filterwarnings("ignore:rich is experimental/alpha:tqdm.TqdmExperimentalWarning")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SIZES = TinyQwenSizes(hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=128,
                      vision_hidden_size=32, vision_intermediate_size=64, image_size=32, vocab_size=800)


@pytest.fixture(scope="module")
def env_kwargs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from lam_envs.envs.config import ConversationConfig
    from lam_envs.envs.resolve import resolve_backbone
    from lam_envs.latent.model import random_latent_model

    backbone_dir = build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("ex_qwen"), SIZES, seed=3)
    backbone, _ = resolve_backbone(ConversationConfig(backbone=backbone_dir))
    latent = random_latent_model(backbone, num_codes=8).save_pretrained(tmp_path_factory.mktemp("ex_latent"))
    return {"backbone": str(backbone_dir), "latent_model": str(latent), "num_samples": 3, "max_reply_tokens": 4,
            "prompt_style": "compact"}


def _run(script: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [script, *args])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")


def test_every_example_has_a_test() -> None:
    tested = {"random_agent.py", "chat.py", "grpo.py", "ppo_latent.py", "latent_vs_token.py", "dialogue.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_random_agent(env_kwargs: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    args = ["--episodes", "2", "--seed", "4", "--env-kwargs", json.dumps(env_kwargs)]
    _run("random_agent.py", args, monkeypatch)
    out = capsys.readouterr().out
    episodes = re.findall(r"^episode (\d) sample (\S+): reward (-?\d+\.\d{3}), (\d+) tokens$", out, re.M)
    assert [e[0] for e in episodes] == ["0", "1"] and out.count("  reply: '") == 2
    assert all(1 <= int(tokens) <= env_kwargs["max_reply_tokens"] for *_, tokens in episodes)
    ratios = [line for line in out.splitlines() if line.startswith("  ") and "reply:" not in line]
    assert len(ratios) == 2 and all([p.split()[0] for p in r.split(", ")] == list(MMROLE_DIMENSIONS) for r in ratios)
    _run("random_agent.py", args, monkeypatch)
    assert capsys.readouterr().out == out  # seeded: the same episodes again


def test_dialogue(env_kwargs: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    args = ["--env", "lam/PCogAlign-Dialogue-Latent-v0", "--episodes", "2", "--env-kwargs", json.dumps(env_kwargs)]
    _run("dialogue.py", args, monkeypatch)
    out = capsys.readouterr().out
    episodes = re.findall(r"^episode (\d): sample \S+, (\d) user turns$", out, re.M)
    assert [e[0] for e in episodes] == ["0", "1"]
    # Every user turn of each conversation is answered and judged, then the episode's return is printed.
    assert out.count("  user: ") == out.count("agent: ") == sum(int(n) for _, n in episodes) >= 4
    assert out.count("  return ") == 2


@pytest.fixture(scope="module")
def token_run(env_kwargs: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lam_agents.train import TrainConfig, train

    return train(TrainConfig(env_id="lam/PCogAlign-Token-v0", algo="ppo", steps=8, n_envs=2, fair_start=True,
                             overrides={"n_steps": 4, "batch_size": 8, "n_epochs": 1},
                             out=str(tmp_path_factory.mktemp("ex_chat") / "run"), env_kwargs=env_kwargs,
                             progress_bar=False, tensorboard=False, checkpoint_every=0, verbose=0))


def test_chat_with_a_trained_agent(token_run: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    from PIL import Image

    from lam_agents.chat import ChatAgent

    persona = "home: parent; office: manager"
    _run("chat.py", ["--model", str(token_run), "--persona", persona], monkeypatch)
    out = capsys.readouterr().out
    # The printed reply is the agent's greedy reply to the example's default picture and question.
    reply = ChatAgent.from_run(token_run).reply(Image.new("RGB", (64, 64), (200, 40, 40)),
                                                "What do you think of this picture?", persona)
    assert reply and out == f"USER: What do you think of this picture?\nAGENT (lam/PCogAlign-Token-v0): {reply}\n"


@PROGRESS_BAR
def test_grpo(env_kwargs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              capsys: pytest.CaptureFixture) -> None:
    from lam_agents.fair_start import FairStartPolicy
    from lam_agents.grpo import GRPO

    monkeypatch.chdir(tmp_path)  # the example saves to runs/example_grpo.zip under the working directory
    _run("grpo.py", ["--loss-type", "dr_grpo", "--steps", "40", "--group-size", "2", "--seed", "1",
                     "--env-kwargs", json.dumps(env_kwargs)], monkeypatch)
    out = capsys.readouterr().out
    # verbose=1: SB3's tables; the second rollout's holds the first update's GRPO statistics, each a number.
    train_table = out[out.index("| train/"):]
    for key in ("loss", "kl_k3", "group_return_mean", "zero_std_groups", "n_updates"):
        assert re.search(rf"^\|    {key} +\| -?\d", train_table, re.M), key
    model = GRPO.load(tmp_path / "runs" / "example_grpo.zip", device="cpu")
    assert model.num_timesteps >= 40 and model.loss_type == "dr_grpo" and model.group_size == 2
    assert isinstance(model.policy, FairStartPolicy) and model.policy.has_start and model.kl_beta == 0.01


@PROGRESS_BAR
def test_ppo_latent(env_kwargs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    capsys: pytest.CaptureFixture) -> None:
    from lam_agents.train import load_agent

    out = tmp_path / "run"
    _run("ppo_latent.py", ["--steps", "16", "--n-eval", "2", "--seed", "1", "--out", str(out),
                           "--env-kwargs", json.dumps(env_kwargs)], monkeypatch)
    text = capsys.readouterr().out
    model, run = load_agent(out)
    assert run["config"]["fair_start"] and run["config"]["kl_beta"] == 0.01 and run["config"]["seed"] == 1
    assert model.num_timesteps >= 16 and model.action_space.n == 8  # the example's latent model has K=8
    # The paper-style table: both test splits, every MMRole dimension and the total, each mean ± std.
    for split in ("test_id", "test_ood"):
        assert f"{split}: 2 prompts x 3 samples, judge failures 0" in text
    rows = re.findall(r"^  (\w+) +(\d+\.\d{3}) ± (\d+\.\d{3})$", text, re.M)
    assert [r[0] for r in rows] == (list(MMROLE_DIMENSIONS) + ["TOTAL"]) * 2
    assert all(float(m) >= 0 and float(s) >= 0 for _, m, s in rows)


@pytest.mark.slow  # two PPO runs of one full rollout each (the example keeps CompareConfig's 16 rows x 64 steps)
def test_latent_vs_token(env_kwargs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "study"
    _run("latent_vs_token.py", ["--task", "pcogalign", "--steps", "16", "--seeds", "3", "--n-eval", "2",
                                "--out", str(out), "--env-kwargs", json.dumps(env_kwargs)], monkeypatch)
    text = capsys.readouterr().out
    # One row per action space over the one seed: start, final with its CI, the paired improvement.
    for kind in ("latent", "token"):
        assert re.search(rf"^\| pcogalign \| ppo \| {kind} \| test_id \| 1 \| \d\.\d{{3}} \| \d\.\d{{3}} \[", text, re.M), kind
    assert text.rstrip().endswith(f"learning curves: {out}/curves.png")
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads((out / "summary.json").read_text())
    assert sorted((r["action_space"], r["seeds"][0]) for r in rows) == [("latent", 3), ("token", 3)]
    assert all(len(r["audit"]["dimensions_start"]) == len(PCOGALIGN_DIMENSIONS) for r in rows)
    assert (out / "summary.md").is_file() and sorted(p.name for p in (out / "results").iterdir()) == [
        "ppo_pcogalign_latent_s3.json", "ppo_pcogalign_token_s3.json"]
