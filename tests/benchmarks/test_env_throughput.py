"""The env throughput benchmark's --quick mode runs end to end and writes every issue-12 ratio key as valid JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest


@pytest.mark.slow  # about 10-20 s on 2 loaded cores: 3 env counts x 2 twins, a single-env loop and a PPO rollout
def test_quick_json_has_every_ratio_key(
    benchmark_script: Callable[[str], ModuleType],
    tiny_qwen_dir: Path,
    tiny_latent_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = benchmark_script("env_throughput")
    out = tmp_path / "nested" / "quick.json"
    argv = ["--quick", "--backbone-dir", str(tiny_qwen_dir), "--latent-dir", str(tiny_latent_dir), "--threads", "1",
            "--json", str(out)]
    module.main(argv)

    # Strict JSON: no NaN / Infinity, which json.loads would otherwise accept.
    record = json.loads(out.read_text(), parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))
    assert set(module.RATIO_KEYS) == {
        "env_over_raw_episode_64", "env_over_raw_decode_64", "latent_over_token_step_64", "latent_over_token_step_8",
        "group_prefill_speedup_8", "train_over_env_16",
    }
    for key in module.RATIO_KEYS:
        assert key in record, key
        value = record[key]
        if value is None:
            assert key in record["notes"] and record["notes"][key], f"{key} is null without a note"
        else:
            assert isinstance(value, float) and math.isfinite(value) and value > 0, (key, value)
    # The shared prefill is measured against the unshared one in the same run.
    groups = record["groups"]
    assert record["group_prefill_speedup_8"] == pytest.approx(groups["shared"] / groups["unshared"])
    assert sorted(r["num_envs"] for r in record["rows"]) == [8, 16, 64]
    assert record["train"]["num_envs"] == 16 and record["train"]["fair_start"] is True
    assert record["train"]["timed_steps"] == 16 * record["train"]["n_steps"]
    # The env-alone rate replays the run's own actions: the same episodes, reward for reward.
    assert record["train"]["replay_matches"] is True
    assert len(record["train"]["replay_rates"]) == 1  # --quick: one timed block of everything
    assert 0 < record["env_share_of_train_16"] < 1
    assert record["env_share_of_train_16"] == record["train"]["env_seconds_in_run"] / record["train"]["learn_seconds"]
    assert record["train_over_env_16"] == pytest.approx(record["train"]["steps_per_s"] / record["train"]["replay_steps_per_s"])
    assert record["quick"] is True and record["threads"] == 1
    assert record["command"].startswith("python benchmarks/env_throughput.py --quick")
    assert record["commit"] and record["machine"]

    printed = capsys.readouterr().out
    for key in module.RATIO_KEYS:
        assert f"| {key} |" in printed
    assert "| group_prefill_speedup_8 | null |" not in printed and "shared prefill" in printed
    assert "command: " in printed and "machine: " in printed and "threads 1" in printed


def test_quick_sets_small_sizes_and_explicit_flags_win(benchmark_script: Callable[[str], ModuleType]) -> None:
    module = benchmark_script("env_throughput")
    quick = module.parse_args(["--quick", "--steps", "4"])
    assert quick.steps == 4 and quick.reply_tokens == 8 and quick.repeats == 1 and quick.train_n_steps == 8
    full = module.parse_args([])
    assert full.steps == 64 and full.reply_tokens == 32 and full.train_n_steps is None
    with pytest.raises(SystemExit):
        module.parse_args(["--num-samples", "16"])  # fewer prompts than the 64 rows the keys need


@pytest.mark.slow  # ~15 s: 64 steps of 8 rows of the embedded default, twice
def test_paired_token_env_replays_the_latent_envs_episodes(
    benchmark_script: Callable[[str], ModuleType], tmp_path: Path
) -> None:
    """``vector token paired`` differs from ``vector latent`` by the read-out alone: the same tokens, and the same
    rows ending at the same steps, EOS included (a same-step autoreset hides a finished row's token in final_info)."""
    import numpy as np

    module = benchmark_script("env_throughput")
    from lam_envs.envs.config import ConversationConfig
    from lam_envs.envs.resolve import resolve_backbone
    from lam_envs.latent.model import random_latent_model

    # The benchmark's setting: the embedded default and a random K = 128 world model, whose greedy tokens for
    # random codes include EOS (the tiny test VLM's never do within a few dozen steps).
    backbone = resolve_backbone(ConversationConfig())[0]
    latent_dir = random_latent_model(backbone, num_codes=128, seed=0).save_pretrained(tmp_path / "latent")
    kwargs = {"latent_model": str(latent_dir), "num_samples": 16, "max_reply_tokens": 32, "prompt_style": "compact"}
    steps, n = 32, 8
    codes = np.random.default_rng(0).integers(128, size=(2 * steps, n))
    latent: list[tuple[np.ndarray, np.ndarray]] = []
    block = module.vector_block(module.ENV_IDS["latent"], n, kwargs, codes, steps, 0, latent)
    assert block() == steps * n and block() == steps * n
    with pytest.raises(RuntimeError, match="too few"):
        block()
    tokens = np.stack([t for t, _ in latent])
    ended = np.stack([d for _, d in latent])
    replayed: list[tuple[np.ndarray, np.ndarray]] = []
    block = module.vector_block(module.ENV_IDS["token"], n, kwargs, tokens, steps, 0, replayed)
    block(), block()
    np.testing.assert_array_equal(np.stack([t for t, _ in replayed]), tokens)
    np.testing.assert_array_equal(np.stack([d for _, d in replayed]), ended)
    # The pairing is only tested if some reply ended on EOS, before the length limit, out of step with the others.
    assert ((tokens == backbone.eos_token_id) & ended).any()
    assert len({tuple(row) for row in ended if row.any()}) > 1
