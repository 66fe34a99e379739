"""The embedded default VLM: the shipped asset loads offline, records its build and speaks the tasks' language."""

from __future__ import annotations

import json
import subprocess
import sys

from lam_envs.backbone import Backbone, BackboneConfig, Context
from lam_envs.backbone.default import default_backbone_dir


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
