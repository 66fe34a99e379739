"""Runs never overwrite or misdescribe each other, and a resumed run matches an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback

from lam_agents import run_dir as rd
from lam_agents.train import RunDirError, TrainConfig, TrainingInterrupted, load_agent, read_run, train

ENV = "lam/MMRole-Latent-v0"
PPO_SMALL = {"n_steps": 8, "batch_size": 16, "n_epochs": 2}


def _config(out: Path, env_kwargs: dict[str, Any], steps: int = 16, **extra: Any) -> TrainConfig:
    base: dict[str, Any] = dict(env_id=ENV, algo="ppo", steps=steps, seed=3, n_envs=2, overrides=PPO_SMALL,
                                out=str(out), env_kwargs=env_kwargs, progress_bar=False, tensorboard=False,
                                checkpoint_every=0, verbose=0, fair_start=True)
    return TrainConfig(**{**base, **extra})


def test_non_empty_out_is_refused_unless_overwrite_or_resume(tmp_path: Path, tiny_env_kwargs: dict) -> None:
    out = tmp_path / "run"
    train(_config(out, tiny_env_kwargs))
    with pytest.raises(RunDirError, match="--resume to continue that run, --overwrite to replace it"):
        train(_config(out, tiny_env_kwargs))
    train(_config(out, tiny_env_kwargs, overwrite=True))
    assert (out / "model.zip").is_file()
    stranger = tmp_path / "notes"
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("precious")
    with pytest.raises(RunDirError, match="not a lam run directory"):
        train(_config(stranger, tiny_env_kwargs, overwrite=True))
    assert (stranger / "thesis.tex").read_text() == "precious"
    with pytest.raises(RunDirError, match="no checkpoint"):
        train(_config(out, tiny_env_kwargs, resume=True))
    with pytest.raises(ValueError, match="not both"):
        _config(out, tiny_env_kwargs, resume=True, overwrite=True)


def test_run_json_is_written_only_once_env_and_model_are_built(tmp_path: Path, tiny_env_kwargs: dict) -> None:
    out = tmp_path / "run"
    with pytest.raises(Exception):
        train(_config(out, {**tiny_env_kwargs, "no_such_keyword": 1}))
    assert not (out / "run.json").exists()
    train(_config(out, tiny_env_kwargs))
    assert not list(out.glob(".*.tmp")), "no temporary files are left behind"


def test_model_records_env_and_algo_and_load_checks_them(tmp_path: Path, tiny_env_kwargs: dict) -> None:
    out = train(_config(tmp_path / "run", tiny_env_kwargs))
    assert rd.read_stamp(out / "model.zip") == {"env_id": ENV, "algo": "ppo"}
    run = read_run(out)
    run["config"]["algo"] = "a2c"
    (out / "run.json").write_text(json.dumps(run))
    with pytest.raises(RunDirError, match="trained with algo='ppo' but its run.json says 'a2c'"):
        load_agent(out)
    unstamped = tmp_path / "plain.zip"
    with zipfile.ZipFile(out / "model.zip") as src, zipfile.ZipFile(unstamped, "w") as dst:
        for name in src.namelist():
            if name != rd.META_ENTRY:
                dst.writestr(name, src.read(name))
    run["config"]["algo"] = "ppo"
    (tmp_path / "run.json").write_text(json.dumps(run))
    with pytest.raises(RunDirError, match="not written by `lam train`"):
        load_agent(unstamped)


def test_device_that_does_not_exist_is_refused() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA exists here")
    with pytest.raises(ValueError, match="CUDA is not available on this machine; pass --device cpu"):
        TrainConfig(env_id=ENV, device="cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        TrainConfig(env_id=ENV, device="gpu0")
    with pytest.raises(ValueError, match="steps=2.5 must be an integer"):
        TrainConfig(env_id=ENV, steps=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_envs=True must be a positive integer"):
        TrainConfig(env_id=ENV, n_envs=True)


class _SignalAt(BaseCallback):
    """Sends the process a signal once training reaches ``step`` (mid-rollout)."""

    def __init__(self, step: int, signum: int) -> None:
        super().__init__()
        self.step, self.signum, self.sent = step, signum, False

    def _on_step(self) -> bool:
        if not self.sent and self.num_timesteps >= self.step:
            self.sent = True
            os.kill(os.getpid(), self.signum)
        return True


def _params(run_dir: Path) -> dict[str, np.ndarray]:
    model, _ = load_agent(run_dir)
    return {k: v.detach().cpu().numpy() for k, v in model.policy.state_dict().items()}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(signum: int, tmp_path: Path,
                                                                  tiny_env_kwargs: dict) -> None:
    steps = 64  # 4 rollouts of 2 rows x 8 steps
    whole = train(_config(tmp_path / "whole", tiny_env_kwargs, steps=steps))
    cut = tmp_path / "cut"
    with pytest.raises(TrainingInterrupted) as stopped:
        train(_config(cut, tiny_env_kwargs, steps=steps), extra_callbacks=[_SignalAt(40, signum)])
    assert stopped.value.step == 32 and stopped.value.checkpoint is not None  # the last point between rollouts
    assert "--resume" in str(stopped.value) and not (cut / "model.zip").exists()
    state, _ = rd.load_checkpoint_state(stopped.value.checkpoint)
    assert state["reason"].startswith("interrupted") and state["step"] == 32
    train(_config(cut, tiny_env_kwargs, steps=steps, resume=True))
    a, b = _params(whole), _params(cut)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert load_agent(cut)[0].num_timesteps == load_agent(whole)[0].num_timesteps


def test_periodic_checkpoint_resume_matches_too(tmp_path: Path, tiny_env_kwargs: dict) -> None:
    steps = 48
    whole = train(_config(tmp_path / "whole", tiny_env_kwargs, steps=steps))
    part = train(_config(tmp_path / "part", tiny_env_kwargs, steps=32, checkpoint_every=16))
    assert rd.latest_checkpoint(part) is not None
    (part / "model.zip").unlink()
    train(_config(part, tiny_env_kwargs, steps=steps, checkpoint_every=16, resume=True))
    a, b = _params(whole), _params(part)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_resume_refuses_other_settings(tmp_path: Path, tiny_env_kwargs: dict) -> None:
    out = train(_config(tmp_path / "run", tiny_env_kwargs, steps=32, checkpoint_every=16))
    with pytest.raises(RunDirError, match="seed=3, not 4"):
        train(_config(out, tiny_env_kwargs, steps=48, seed=4, checkpoint_every=16, resume=True))


def test_checkpoint_state_loads_without_pickle(tmp_path: Path, tiny_env_kwargs: dict) -> None:
    out = train(_config(tmp_path / "run", tiny_env_kwargs, steps=32, checkpoint_every=16))
    folder = rd.latest_checkpoint(out)
    assert folder is not None
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        assert "torch" in npz.files and "last_obs" in npz.files
