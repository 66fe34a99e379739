"""Reward spread of the fair-start policy: 8 sampled replies to each of 32 RL prompts; within- vs between-prompt std.

    OMP_NUM_THREADS=1 python benchmarks/reward_spread.py
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch, numpy as np
torch.set_num_threads(1)
from lam_agents.envs import make_vec_env
from lam_agents.train import TrainConfig, build_model
from lam_agents.evaluate import answer_prompts
for eid in ["lam/MMRole-Latent-v0","lam/MMRole-Token-v0", "lam/PCogAlign-Latent-v0"]:
    venv = make_vec_env(eid, 16, 0, {"num_samples": 32})
    m = build_model(TrainConfig(env_id=eid, fair_start=True, out="/tmp/x", tensorboard=False, verbose=0), venv, {"n_steps":8,"batch_size":16})
    R = np.array([[i["judge_ratio"] for i in answer_prompts(m, venv, range(32), seed=s)] for s in range(8)])  # (8, 32)
    print(eid, "mean", R.mean().round(3), "total std", R.std().round(3), "within-prompt std", R.std(0).mean().round(3), "between-prompt std", R.mean(0).std().round(3), "max over 8 samples mean", R.max(0).mean().round(3))
