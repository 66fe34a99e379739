from __future__ import annotations

import math
from pathlib import Path

import pytest

from lam_agents.backbone_report import IMAGE_DIMENSION, format_report, split_quality
from lam_envs.backbone import Backbone, BackboneConfig
from lam_envs.builders.tiny import TinyQwenSizes, build_tiny_qwen2_5_vl
from lam_envs.data.types import Split
from lam_envs.rewards.base import DIMENSIONS


@pytest.fixture(scope="module")
def random_qwen(tmp_path_factory: pytest.TempPathFactory) -> Backbone:
    sizes = TinyQwenSizes(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64,
                          vision_hidden_size=32, vision_intermediate_size=64, vocab_size=500)
    return Backbone(BackboneConfig(build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("q"), sizes, seed=0)))


@pytest.mark.parametrize("task", ["mmrole", "pcogalign"])
def test_split_quality_measures_every_dimension(random_qwen: Backbone, task: str) -> None:
    q = split_quality(random_qwen, task, Split.TEST_ID, 4, max_new_tokens=6)
    assert q.n == 4 and math.isfinite(q.perplexity) and q.perplexity > 1
    assert set(q.dimensions) == set(DIMENSIONS[task]) == set(q.swapped_dimensions)
    assert 0 <= q.ratio < 0.5  # a random model's six-token babble is far from the reference
    report = format_report([q])
    assert IMAGE_DIMENSION[task] in report and task in report
