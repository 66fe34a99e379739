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


def test_files_name_the_embedded_default_by_its_place_in_the_package(tmp_path) -> None:
    from lam_envs.backbone.default import DEFAULT_NAME, backbone_name

    assert backbone_name(default_backbone_dir()) == DEFAULT_NAME == "lam_envs/assets/default/backbone"
    assert backbone_name(tmp_path / "ckpt") == str(tmp_path / "ckpt")  # another checkpoint: the path as given


def _strings(value: object) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [s for item in items for s in _strings(item)]


def test_no_shipped_asset_file_names_a_path_of_the_machine_that_built_it() -> None:
    assets = default_backbone_dir().parents[1]
    files = sorted(assets.rglob("*.json"))
    assert len(files) >= 6  # the VLM's configs and the latent model's
    for path in files:
        absolute = [s for s in _strings(json.loads(path.read_text())) if s.startswith("/") or s[1:3] in (":\\", ":/")]
        assert not absolute, f"{path.relative_to(assets)} names machine paths: {absolute[:3]}"
