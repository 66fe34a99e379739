"""The embedded default VLM's build: deterministic, seeded, on the shared loop and schedule, settings checked."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lam_envs.backbone import Backbone, BackboneConfig
from lam_envs.backbone.default import default_backbone_dir
from lam_envs.builders.default_vlm import DefaultVLMConfig, build_default_vlm
from lam_envs.builders.tiny import TinyQwenSizes

SMALL = DefaultVLMConfig(
    sizes=TinyQwenSizes(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64,
                        vision_hidden_size=32, vision_intermediate_size=64, vocab_size=600),
    tokenizer_texts=300,
    max_tokens=400,  # a 600-token vocabulary splits prompts into more pieces
    steps=3,
    batch_size=4,
    threads=1,
)


@pytest.mark.slow
def test_the_build_is_deterministic(tmp_path: Path) -> None:
    a = build_default_vlm(tmp_path / "a", SMALL, progress=False)
    b = build_default_vlm(tmp_path / "b", SMALL, progress=False)
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    c = build_default_vlm(tmp_path / "c", dataclasses.replace(SMALL, seed=1), progress=False)
    wc = load_file(c / "model.safetensors")
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    Backbone(BackboneConfig(a))  # and it loads like any checkpoint


def test_the_schedule_warms_up_over_steps_then_decays_to_a_tenth() -> None:
    loop = DefaultVLMConfig().loop()
    assert (loop.steps, loop.batch_size, loop.learning_rate, loop.weight_decay) == (700, 32, 1.5e-3, 0.01)
    assert loop.lr_at(0) == 1.5e-3 / 50 and loop.lr_at(49) == 1.5e-3 and loop.lr_at(50) == 1.5e-3
    assert math.isclose(loop.lr_at(699), 1.5e-4, rel_tol=1e-4)
    short = dataclasses.replace(DefaultVLMConfig(), steps=30).loop()  # a test build never leaves the warm-up
    assert [short.lr_at(s) for s in (0, 29)] == [1.5e-3 * 1 / 50, 1.5e-3 * 30 / 50]


def test_the_shipped_log_is_what_the_schedule_gives() -> None:
    record = json.loads((default_backbone_dir() / "build_config.json").read_text())
    config = DefaultVLMConfig(**{**record["config"], "sizes": TinyQwenSizes(**record["config"]["sizes"])})
    assert [row["lr"] for row in record["log"]] == [config.loop().lr_at(row["step"]) for row in record["log"]]


def test_bad_build_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="task_share"):
        DefaultVLMConfig(task_share=0.8, paired_share=0.5)
