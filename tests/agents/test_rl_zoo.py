"""RL Zoo trains on the lam envs from the shipped YAML (``python -m rl_zoo3.train ... --conf-file ppo.yml``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_rl_zoo_trains_ppo_from_the_shipped_yaml(tmp_path: Path, tiny_env_kwargs: dict[str, Any]) -> None:
    from stable_baselines3 import PPO

    # RL Zoo evals each --env-kwargs value, so strings carry their own quotes.
    env_kwargs = [f"{k}:{v!r}" for k, v in tiny_env_kwargs.items()]
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", "ppo", "--env", "lam/MMRole-Latent-v0",
               "--gym-packages", "lam_envs", "--conf-file", "lam_agents/hyperparams/ppo.yml", "-n", "256",
               "--eval-freq", "-1", "--num-threads", "1", "--seed", "0", "--device", "cpu", "--verbose", "0",
               "-f", str(tmp_path), "--env-kwargs", *env_kwargs]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    saved = tmp_path / "ppo" / "lam-MMRole-Latent-v0_1" / "lam-MMRole-Latent-v0.zip"
    assert saved.is_file(), sorted(p.name for p in tmp_path.rglob("*"))
    model = PPO.load(saved, device="cpu")
    # A plain MlpPolicy (RL Zoo has no fair start) over the K=16 codes, with the YAML's net_arch and budget.
    assert type(model.policy).__name__ == "ActorCriticPolicy" and model.action_space.n == 16
    assert model.policy.net_arch == [64, 64] and model.num_timesteps >= 256 and model.n_steps == 64
