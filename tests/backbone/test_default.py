"""The embedded default VLM: the shipped asset loads offline, and the build is deterministic."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lam_envs.backbone import Backbone, BackboneConfig, Context
from lam_envs.backbone.default import DefaultVLMConfig, build_default_vlm, default_backbone_dir, text_messages
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


def test_the_shipped_default_loads_offline_in_a_fresh_process() -> None:
    code = (
        "import os; os.environ['HF_HUB_OFFLINE'] = '1'\n"
        "from lam_envs.backbone import Backbone, BackboneConfig\n"
        "from lam_envs.backbone.default import default_backbone_dir\n"
        "b = Backbone(BackboneConfig(default_backbone_dir()))\n"
        "print(b.family_name, b.hidden_size, b.num_image_tokens)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["qwen2_5_vl", "256", "16"]


def test_the_shipped_default_records_how_it_was_built() -> None:
    record = json.loads((default_backbone_dir() / "build_config.json").read_text())
    assert record["config"]["seed"] == 0 and record["log"][-1]["loss"] < record["log"][0]["loss"]


def test_the_shipped_default_answers_in_the_tasks_language() -> None:
    from lam_envs.backbone.generate import greedy_replies
    from lam_envs.data.prompts import sample_messages
    from lam_envs.data.synthetic import synthetic_samples

    backbone = Backbone(BackboneConfig(default_backbone_dir()))
    sample = synthetic_samples("mmrole", "test_id", n=1)[0]
    reply = greedy_replies(backbone, [Context(sample.image.load(), sample_messages(sample, "compact"))])[0]
    assert len(reply.split()) >= 5  # an untrained model of this vocabulary would not produce a sentence


def test_text_items_become_one_question_one_answer() -> None:
    assert text_messages("Where am I? You are home. Rest.") == ((("user", "Where am I?"),), "You are home. Rest.")
    assert text_messages("Just one line.") == ((("user", "Say something."),), "Just one line.")


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


def test_bad_build_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="task_share"):
        DefaultVLMConfig(task_share=0.8, paired_share=0.5)
