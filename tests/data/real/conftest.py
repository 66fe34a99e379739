from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MMROLE = FIXTURES / "mmrole"
BAD_IMAGES = FIXTURES / "images"


@pytest.fixture()
def image_root(tmp_path: Path) -> Path:
    """An image root with two good images and one of each kind of bad file or path.

    Bad files: a truncated PNG, a truncated JPEG (which ``verify()`` passes), a text file named like an image, an
    empty file, a directory named like an image, a FIFO, a decompression-bomb-sized PNG header. Bad paths: a good
    image outside the root (``../outside.png``, or its absolute path) and a symlink inside that points to it.
    """
    root = tmp_path / "images"
    root.mkdir()
    shutil.copy(MMROLE / "images/COCO/train2017/000000000101.png", root / "good.png")
    shutil.copy(MMROLE / "images/COCO/train2017/000000000102.png", root / "good2.png")
    data = (root / "good.png").read_bytes()
    (root / "truncated.png").write_bytes(data[: len(data) // 2])
    (root / "not_an_image.png").write_text("this is not a PNG", encoding="utf-8")
    for name in ("truncated.jpg", "empty.png", "bomb.png"):
        shutil.copy(BAD_IMAGES / name, root / name)
    (root / "folder.png").mkdir()
    os.mkfifo(root / "pipe.png")
    shutil.copy(root / "good.png", tmp_path / "outside.png")
    (root / "escape.png").symlink_to(tmp_path / "outside.png")
    return root
