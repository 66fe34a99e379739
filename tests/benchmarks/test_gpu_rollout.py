"""The GPU rollout benchmark runs end to end on CPU at its tiny size, and its 3B preset is Qwen2.5-VL-3B's shape."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest
import torch


@pytest.mark.slow  # 15-40 s on 2 loaded cores (bfloat16 on CPU, tokenizer training, two env twins per size)
def test_tiny_cpu_run_reports_every_measurement(
    benchmark_script: Callable[[str], ModuleType], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = benchmark_script("gpu_rollout")
    out = tmp_path / "gpu_rollout.json"
    argv = ["--device", "cpu", "--size", "tiny", "--envs", "2", "4", "--threads", "1", "--build-dir",
            str(tmp_path / "build"), "--json", str(out)]
    result = module.main(argv)

    record = json.loads(out.read_text(), parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))
    assert record == json.loads(json.dumps(result, default=str))
    assert [r["num_envs"] for r in record["rows"]] == [2, 4]
    for row in record["rows"]:
        assert row["generate"]["tokens_per_s"] > 0 and row["peak_memory_gib"] > 0
        for kind in ("latent", "token"):
            env = row[kind]
            assert env["steps_per_s"] > 0
            assert math.isclose(row[f"{kind}_over_generate"], env["steps_per_s"] / row["generate"]["tokens_per_s"])
            shares = env["prefill_share"], env["decode_share"], env["other_share"]
            assert all(0 <= s <= 1 for s in shares) and env["prefill_share"] > 0 and env["decode_share"] > 0
        assert row["backbone"]["prefill_ms"] > 0 and row["backbone"]["step_ms"] > 0
    assert record["measured_on_gpu"] is False and record["peak_memory_kind"] == "cpu_max_rss_process"
    assert record["dtype"] == "bfloat16" and record["size"] == "tiny"
    assert record["command"] == "python benchmarks/gpu_rollout.py " + " ".join(argv)
    printed = capsys.readouterr().out
    assert "| N | prompt tok | HF generate tok/s |" in printed and "commit " in printed

    # A second run reuses the checkpoints in --build-dir instead of rebuilding them.
    built = sorted(p.name for p in (tmp_path / "build").iterdir())
    stamp = (tmp_path / "build" / built[0] / "config.json").stat().st_mtime_ns
    module.main([*argv[:-2], "--envs", "2"])
    assert (tmp_path / "build" / built[0] / "config.json").stat().st_mtime_ns == stamp


def test_3b_preset_has_qwen2_5_vl_3b_shapes(benchmark_script: Callable[[str], ModuleType]) -> None:
    module = benchmark_script("gpu_rollout")
    config, tokenizer = module.preset_config(module.QWEN2_5_VL_3B, seed=0)
    text, vision = config.get_text_config(), config.vision_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.num_key_value_heads,
            text.intermediate_size, text.vocab_size) == (2048, 36, 16, 2, 11008, 151936)
    assert text.rope_parameters["mrope_section"] == [16, 24, 24]
    assert text.rope_parameters["rope_theta"] == 1_000_000.0
    assert (vision.depth, vision.hidden_size, vision.num_heads, vision.intermediate_size, vision.patch_size,
            vision.window_size, vision.fullatt_block_indexes) == (32, 1280, 16, 3420, 14, 112, [7, 15, 23, 31])
    assert vision.out_hidden_size == 2048 and len(tokenizer) < text.vocab_size
    from transformers import Qwen2_5_VLForConditionalGeneration

    with torch.device("meta"):  # shapes only: no memory, no time
        model = Qwen2_5_VLForConditionalGeneration._from_config(config)
    params = sum(p.numel() for p in model.parameters())
    assert 3.6e9 < params < 3.9e9, params  # Qwen2.5-VL-3B-Instruct: 3.75B with the tied embedding counted once


@pytest.mark.slow  # a few seconds: 1024 patches per 448 px image through a narrow vision tower
def test_windowed_vision_at_448_px_decodes_like_hf_generate(
    benchmark_script: Callable[[str], ModuleType], tmp_path: Path
) -> None:
    """The 3B preset's vision layout (448 px, patch 14, 112 px windows) at tiny widths: the backbone's own decode
    and HF generate agree, so the GPU run's two sides compute the same thing."""
    from lam_envs.backbone import Backbone, BackboneConfig, Context
    from PIL import Image
    import numpy as np

    module = benchmark_script("gpu_rollout")
    sizes = replace(module.QWEN2_5_VL_3B.sizes, hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2,
                    intermediate_size=128, vision_depth=4, vision_hidden_size=32, vision_heads=2,
                    vision_intermediate_size=64, vocab_size=800, initializer_range=0.2)
    preset = replace(module.QWEN2_5_VL_3B, sizes=sizes, vision_full_attention_blocks=(1, 3))
    path = module.build_backbone(tmp_path / "mini", preset, torch.device("cpu"), "float32", seed=1)
    backbone = Backbone(BackboneConfig(path.resolve()))
    assert backbone.num_image_tokens == 256 and backbone.vocab_size == 151936
    rng = np.random.default_rng(0)
    contexts = [Context(Image.fromarray(rng.integers(0, 256, (448, 448, 3), dtype=np.uint8)), [("user", text)])
                for text in ("What colour is it?", "Describe the picture please")]
    state, ours = backbone.prefill(contexts), []
    for _ in range(4):
        token = backbone.lm_head(state.h).argmax(-1)
        ours.append(token)
        backbone.step(state, token)
    inputs = module.hf_inputs(backbone, contexts)
    with torch.inference_mode():
        generated = backbone.model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert generated[:, inputs["input_ids"].shape[1]:].tolist() == torch.stack(ours, 1).tolist()
