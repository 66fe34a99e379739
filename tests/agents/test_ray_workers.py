"""Ray rollout workers: 2 workers × N rows reproduce a local env of 2N rows (raw steps, PPO, GRPO), keep SB3's and
Gymnasium's contracts, resume from their state, and a dead worker stops the run with its name."""

from __future__ import annotations

from typing import Any, Iterator

import gymnasium as gym
import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

from lam_agents.envs import make_vec_env  # noqa: E402
from lam_agents.grpo import GRPO  # noqa: E402
from lam_agents.ray_workers import RaySettings, RayVecEnv, RayVectorEnv, RolloutWorkerError  # noqa: E402

pytestmark = pytest.mark.slow  # each test starts Ray actors that load the tiny models: 25-50 s on 2 busy cores

ENV = "lam/MMRole-Latent-v0"
ATOL = 1e-5  # float tolerance of observations / parameters: rows are decoded in batches of 2 instead of 4


@pytest.fixture(scope="module", autouse=True)
def ray_cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


SETTINGS = RaySettings(worker_cpus=0.5, timeout_s=120)  # 4 workers fit on num_cpus=2 (one test runs two pairs)


def _pair(kwargs: dict[str, Any], seed: int = 3) -> tuple[Any, Any]:
    local = make_vec_env(ENV, 4, seed, kwargs)
    remote = make_vec_env(ENV, 4, seed, kwargs, workers=2, ray_settings=SETTINGS)
    return local, remote


def _same_infos(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            if isinstance(x[key], np.ndarray):
                assert np.allclose(x[key], y[key], atol=ATOL), key
            elif isinstance(x[key], float):
                assert x[key] == pytest.approx(y[key], abs=ATOL, nan_ok=True), key
            elif key != "episode":  # VecMonitor's wall-clock time
                assert x[key] == y[key], key


def test_two_workers_step_like_one_local_env_and_resume(tiny_env_kwargs: dict[str, Any]) -> None:
    local, remote = _pair(tiny_env_kwargs)
    try:
        assert remote.num_envs == 4 and remote.observation_space == local.observation_space
        assert np.allclose(local.reset(), remote.reset(), atol=ATOL)
        _same_infos(local.reset_infos, remote.reset_infos)
        rng = np.random.default_rng(0)
        n_actions = local.action_space.n
        for t in range(10):
            actions = rng.integers(n_actions, size=4)
            a, b = local.step(actions), remote.step(actions)
            assert np.allclose(a[0], b[0], atol=ATOL) and np.allclose(a[1], b[1], atol=ATOL)
            assert (a[2] == b[2]).all()
            _same_infos(a[3], b[3])
            if t == 4:
                state = remote.unwrapped.get_state()
        assert remote.get_attr("num_envs") == [2, 2, 2, 2] and remote.env_is_wrapped(gym.Wrapper) == [False] * 4
        masks = remote.env_method("action_masks")
        assert len(masks) == 4 and masks[0].shape == (n_actions,)
        # Resume: a fresh pair of workers continues from the state taken after step 5.
        resumed = make_vec_env(ENV, 4, 3, tiny_env_kwargs, workers=2, ray_settings=SETTINGS)
        try:
            resumed.unwrapped.set_state(*state)
            remote.unwrapped.set_state(*state)
            actions = rng.integers(n_actions, size=4)
            a, b = remote.step(actions), resumed.step(actions)
            assert np.allclose(a[0], b[0], atol=ATOL) and (a[1] == b[1]).all()
        finally:
            resumed.close()
    finally:
        local.close()
        remote.close()


def _params(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.policy.state_dict().items()}


def _assert_same_params(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=ATOL), (k, (a[k] - b[k]).abs().max())


def test_ppo_and_grpo_learn_the_same_on_two_workers(tiny_env_kwargs: dict[str, Any]) -> None:
    from stable_baselines3 import PPO

    params = []
    for workers in (1, 2):
        venv = make_vec_env(ENV, 4, 0, tiny_env_kwargs, workers=workers, ray_settings=SETTINGS)
        try:
            ppo = PPO("MlpPolicy", venv, n_steps=4, batch_size=8, n_epochs=1, seed=0, device="cpu")
            before = _params(ppo)
            ppo.learn(16)
            grpo = GRPO("MlpPolicy", venv, learning_rate=0.01, group_size=2, groups_per_update=2, batch_size=8,
                        n_epochs=1, seed=0, device="cpu")
            grpo.learn(16)
            params.append((_params(ppo), _params(grpo), [e["obs"][0] for e in grpo._episodes]))
        finally:
            venv.close()
    assert any(not torch.equal(before[k], params[0][0][k]) for k in before)  # PPO moved
    _assert_same_params(params[0][0], params[1][0])
    _assert_same_params(params[0][1], params[1][1])
    # GRPO's groups (rows 0-1 on worker 0, rows 2-3 on worker 1) start from their prompts as locally.
    assert all(np.allclose(x, y, atol=ATOL) for x, y in zip(params[0][2], params[1][2]))


def test_gymnasium_vector_env_matches_the_local_one(tiny_env_kwargs: dict[str, Any]) -> None:
    local = gym.make_vec(ENV, num_envs=4, vectorization_mode="vector_entry_point", **tiny_env_kwargs)
    remote = RayVectorEnv(ENV, 2, 2, tiny_env_kwargs, SETTINGS)
    try:
        assert isinstance(remote, gym.vector.VectorEnv) and remote.action_space == local.action_space
        (oa, ia), (ob, ib) = local.reset(seed=7), remote.reset(seed=7)
        assert np.allclose(oa, ob, atol=ATOL) and list(ia["sample_id"]) == list(ib["sample_id"])
        rng = np.random.default_rng(1)
        for _ in range(6):
            actions = rng.integers(local.single_action_space.n, size=4)
            a, b = local.step(actions), remote.step(actions)
            assert np.allclose(a[0], b[0], atol=ATOL) and np.allclose(a[1], b[1], atol=ATOL)
            assert (a[2] == b[2]).all() and (a[3] == b[3]).all()
            assert sorted(a[4]) == sorted(b[4])
            if "_final_obs" in a[4]:
                assert (a[4]["_final_obs"] == b[4]["_final_obs"]).all()
        assert remote.action_masks().shape == (4, local.single_action_space.n)
        mask = np.array([False, True, False, False])
        (oa, _), (ob, _) = local.reset(options={"reset_mask": mask}), remote.reset(options={"reset_mask": mask})
        assert np.allclose(oa, ob, atol=ATOL)
    finally:
        local.close()
        remote.close()


def test_a_dead_or_failing_worker_stops_the_run_with_its_name(tiny_env_kwargs: dict[str, Any]) -> None:
    venv = RayVecEnv(ENV, 2, 1, tiny_env_kwargs, SETTINGS)
    venv.reset()
    with pytest.raises(RolloutWorkerError, match=r"rollout worker 0 of 2 failed in env_method\(\).*AttributeError"):
        venv.env_method("no_such_method")
    with pytest.raises(RuntimeError, match="shut down"):  # the failure shut every worker down
        venv.step(np.array([0, 0]))
    venv = RayVecEnv(ENV, 2, 1, tiny_env_kwargs, SETTINGS)
    venv.reset()
    ray.kill(venv.pool.actors[1])
    with pytest.raises(RolloutWorkerError, match=r"rollout worker 1 of 2 failed in step\(\): the actor died"):
        venv.step(np.array([0, 0]))
    venv.close()
