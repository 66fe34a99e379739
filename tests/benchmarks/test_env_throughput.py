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


def test_the_settings_of_a_ratio_are_timed_in_turns_each_with_its_own_caches(
    benchmark_script: Callable[[str], ModuleType]
) -> None:
    import torch

    from lam_envs.backbone.cache import BoundedCache

    module = benchmark_script("env_throughput")
    shared = (BoundedCache(1000, "prompt states"), BoundedCache(500, "image features"))
    backbone = type("FakeBackbone", (), {})()
    backbone.prompt_cache, backbone.image_cache = shared
    backbone.device = torch.device("cpu")
    calls: list[tuple[str, int, int]] = []

    def factory(label: str) -> Callable[[], Callable[[], int]]:
        def build() -> Callable[[], int]:
            calls.append((f"build {label}", id(backbone.prompt_cache), id(backbone.image_cache)))

            def block() -> int:
                calls.append((label, id(backbone.prompt_cache), id(backbone.image_cache)))
                assert (backbone.prompt_cache.max_bytes, backbone.image_cache.max_bytes) == (1000, 500)  # same bounds
                backbone.prompt_cache.put(label, torch.zeros(1))  # what the setting leaves in its cache
                return 10
            return block
        return build

    rates = module.interleaved_rates({"a": factory("a"), "b": factory("b")}, backbone, repeats=3)

    assert set(rates) == {"a", "b"} and all(r > 0 for r in rates.values())
    labels = [label for label, _, _ in calls]
    assert labels == ["build a", "a", "build b", "b", "a", "b", "a", "b", "a", "b"]  # warm-ups, then in turns
    caches = {label: {(p, i) for lab, p, i in calls if lab.endswith(label)} for label in ("a", "b")}
    assert all(len(c) == 1 for c in caches.values()), "a setting always sees the same caches"
    (a_caches,), (b_caches,) = caches["a"], caches["b"]
    assert not set(a_caches) & set(b_caches), "two settings never share a cache"
    assert not ({id(c) for c in shared} & (set(a_caches) | set(b_caches))), "the shared caches are left alone"
    assert (backbone.prompt_cache, backbone.image_cache) == shared and len(shared[0]) == 0
    assert shared[0].max_bytes == 1000 and shared[1].max_bytes == 500
