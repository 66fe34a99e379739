"""The examples run end to end on tiny models (random agent, chat)."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

from lam_envs.backbone.tiny import TinyQwenSizes, build_tiny_qwen2_5_vl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SIZES = TinyQwenSizes(hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=128,
                      vision_hidden_size=32, vision_intermediate_size=64, image_size=32, vocab_size=800)


@pytest.fixture(scope="module")
def env_kwargs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from lam_envs.envs.config import ConversationConfig
    from lam_envs.envs.resources import resolve_backbone
    from lam_envs.latent.model import random_latent_model

    backbone_dir = build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("ex_qwen"), SIZES, seed=3)
    backbone, _ = resolve_backbone(ConversationConfig(backbone=backbone_dir))
    latent = random_latent_model(backbone, num_codes=8).save_pretrained(tmp_path_factory.mktemp("ex_latent"))
    return {"backbone": str(backbone_dir), "latent_model": str(latent), "num_samples": 3, "max_reply_tokens": 4,
            "prompt_style": "compact"}


def _run(script: str, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [script, *args])
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")


def test_random_agent(env_kwargs: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    _run("random_agent.py", ["--episodes", "2", "--env-kwargs", json.dumps(env_kwargs)], monkeypatch)
    out = capsys.readouterr().out
    assert out.count("episode ") == 2 and "reward" in out


def test_chat_with_a_trained_agent(env_kwargs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    from lam_agents.train import TrainConfig, train

    run = train(TrainConfig(env_id="lam/PCogAlign-Token-v0", algo="ppo", steps=8, n_envs=2, fair_start=True,
                            overrides={"n_steps": 4, "batch_size": 8, "n_epochs": 1}, out=str(tmp_path / "run"),
                            env_kwargs=env_kwargs, progress_bar=False, tensorboard=False, checkpoint_every=0,
                            verbose=0))
    _run("chat.py", ["--model", str(run), "--persona", "home: parent; office: manager"], monkeypatch)
    assert "AGENT (lam/PCogAlign-Token-v0):" in capsys.readouterr().out
