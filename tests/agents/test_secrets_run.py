"""End to end: a tiny run trained with an LLM judge (on the loopback fake server, which echoes the key back) leaves
the key nowhere in its run directory or its logs, and can be evaluated afterwards.

The literal-``api_key`` case needs ``lam_agents.train.train`` to write ``run.json`` and its INFO log through
:func:`lam_agents.env_kwargs.env_kwargs_record`; until it does, that case is an expected failure (``needs_record``).
"""

from __future__ import annotations

import inspect
import json
import logging
import sys
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

import lam_agents.train
from lam_agents.env_kwargs import parse_env_kwargs
from lam_agents.evaluate import evaluate_run
from lam_agents.train import TrainConfig, train
from lam_envs.rewards.llm import LLMJudgeConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rewards" / "llm"))
from fake_server import ECHO_AUTH, Action, FakeChatServer, reply, scores_json  # noqa: E402

KEY = "sk-LAMtest-run-5e8b1d2c9f0a7364"
ENV = "LAM_TEST_RUN_JUDGE_KEY"

needs_record = pytest.mark.xfail(
    "env_kwargs_record" not in inspect.getsource(lam_agents.train),
    reason="lam_agents.train does not yet record env kwargs with env_kwargs_record (asdict writes the literal key)",
    strict=True,
)


@pytest.fixture
def echo_server() -> Iterator[FakeChatServer]:
    """Answers that end with the request's Authorization header, after a first 500 (retried) that echoes it too."""
    server = FakeChatServer().start()
    server.push(Action(status=500, body=json.dumps({"error": f"overloaded; you sent {ECHO_AUTH}"})))
    server.responder = lambda body: reply(f"{scores_json()}\nfor the record, you sent: {ECHO_AUTH}")
    try:
        yield server
    finally:
        server.stop()


def _no_key(data: bytes, where: str) -> None:
    needle = KEY.encode()
    pieces = [needle[i : i + 8] for i in range(len(needle) - 7)]
    assert not any(p in data for p in pieces), f"key material in {where}"


def _assert_run_dir_clean(run_dir: Path) -> None:
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.name == "run.json" for p in files)
    for path in files:
        data = path.read_bytes()
        _no_key(data, str(path))
        if zipfile.is_zipfile(path):  # model.zip is compressed: look inside too
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    _no_key(archive.read(name), f"{path}:{name}")


@pytest.mark.parametrize("key_given_as", ["api_key_env", pytest.param("api_key", marks=needs_record)])
def test_llm_judge_run_keeps_the_key_secret_and_can_be_evaluated(
    key_given_as: str, tmp_path: Path, tiny_env_kwargs: dict[str, Any], echo_server: FakeChatServer,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(ENV, KEY)
    judge = {"base_url": echo_server.base_url, "model": "fake-judge", "timeout_s": 5.0, "deadline_s": 30.0,
             "max_retries": 2, "backoff_base_s": 0.001, "backoff_max_s": 0.01}
    if key_given_as == "api_key_env":  # the CLI way: --env-kwargs JSON naming the variable
        env_kwargs = parse_env_kwargs(json.dumps({**tiny_env_kwargs, "judge_failure_reward": 0.0,
                                                  "reward": {"llm_judge": {**judge, "api_key_env": ENV}}}))
    else:  # the programmatic way: the key itself in the config
        env_kwargs = {**tiny_env_kwargs, "judge_failure_reward": 0.0,
                      "reward": LLMJudgeConfig(**judge, api_key=KEY, on_failure="flag")}
    config = TrainConfig(env_id="lam/MMRole-Latent-v0", algo="ppo", steps=16, seed=0, n_envs=2,
                         overrides={"n_steps": 8, "batch_size": 16, "n_epochs": 1}, out=str(tmp_path / "run"),
                         env_kwargs=env_kwargs, progress_bar=False, tensorboard=False, checkpoint_every=0, verbose=0)
    run_dir = train(config)
    trained_requests = len(echo_server.requests)
    assert trained_requests > 0 and echo_server.requests[0].headers["Authorization"] == f"Bearer {KEY}"

    _assert_run_dir_clean(run_dir)
    _no_key(caplog.text.encode(), "the logs")
    assert "Bearer ***" in caplog.text  # the server's echoes were there, scrubbed

    rows = evaluate_run(str(run_dir), splits=("test_id",), n=2, samples_per_prompt=1,
                        judge_api_key_env=ENV if key_given_as == "api_key" else None)
    assert rows[0].n_prompts == 2
    assert len(echo_server.requests) > trained_requests
    assert echo_server.requests[-1].headers["Authorization"] == f"Bearer {KEY}"
    _no_key(caplog.text.encode(), "the logs")
    _assert_run_dir_clean(run_dir)
