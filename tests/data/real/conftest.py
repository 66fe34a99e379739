from __future__ import annotations

import shutil
from pathlib import Path

import pytest

MMROLE = Path(__file__).resolve().parents[2] / "fixtures" / "mmrole"


@pytest.fixture()
def image_root(tmp_path: Path) -> Path:
    """An image root with two good images, a truncated PNG and a text file named like an image."""
    root = tmp_path / "images"
    root.mkdir()
    shutil.copy(MMROLE / "images/COCO/train2017/000000000101.png", root / "good.png")
    shutil.copy(MMROLE / "images/COCO/train2017/000000000102.png", root / "good2.png")
    data = (root / "good.png").read_bytes()
    (root / "truncated.png").write_bytes(data[: len(data) // 2])
    (root / "not_an_image.png").write_text("this is not a PNG", encoding="utf-8")
    return root

