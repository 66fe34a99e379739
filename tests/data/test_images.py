"""``open_image`` and ``resolve_image_path``: every kind of bad image file and path is refused, naming the file."""

from __future__ import annotations

import os
import pickle
import shutil
import warnings
from pathlib import Path

import pytest
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

from lam_envs.data import images
from lam_envs.data.images import ImageLoadError, open_image, resolve_image_path
from lam_envs.data.types import ImageFile

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BAD = FIXTURES / "images"
GOOD = FIXTURES / "mmrole/images/COCO/train2017/000000000101.png"


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    (tmp_path / "folder.png").mkdir()
    data = GOOD.read_bytes()
    (tmp_path / "half.png").write_bytes(data[: len(data) // 2])
    return {
        "missing": tmp_path / "nope.png",
        "directory": tmp_path / "folder.png",
        "fifo": fifo,
        "empty": BAD / "empty.png",
        "text named .png": BAD / "not_an_image.png",
        "truncated png": tmp_path / "half.png",
        "truncated jpeg": BAD / "truncated.jpg",
    }


UNREADABLE = {
    "missing": ("missing", "no such file"),
    "directory": ("unreadable", "is a directory, not an image file"),
    "fifo": ("unreadable", r"is not a regular file"),
    "empty": ("unreadable", r"is empty \(0 bytes\)"),
    "text named .png": ("unreadable", r"is not an image file Pillow can read"),
    "truncated png": ("unreadable", r"does not decode \(OSError: .*truncated"),
    "truncated jpeg": ("unreadable", r"does not decode \(OSError: image file is truncated"),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_each_kind_of_bad_file_is_refused_with_its_path(tmp_path: Path, case: str) -> None:
    path = _bad_files(tmp_path)[case]
    problem, reason = UNREADABLE[case]
    with pytest.raises(ImageLoadError, match=reason) as info:
        open_image(path)
    err = info.value
    assert err.problem == problem and err.path == path
    assert str(err).startswith(f"image {path}: ") and "Fix: " in str(err) and "\n" not in str(err)
    # An ImageFile, loaded at every reset, fails the same way.
    with pytest.raises(ImageLoadError, match=reason):
        ImageFile(path).load()


def test_a_truncated_jpeg_passes_verify_but_not_the_decode() -> None:
    with Image.open(BAD / "truncated.jpg") as img:
        img.verify()  # why the checks decode in full: verify() finds nothing wrong here
    with pytest.raises(ImageLoadError, match="truncated"):
        open_image(BAD / "truncated.jpg")


def test_images_over_pillows_pixel_limit_are_refused_from_the_header() -> None:
    # oversized.png: 10000x10000, where Pillow only warns; bomb.png: 20000x20000, where Pillow raises. Both are
    # 65-byte headers, so nothing is decoded before the refusal.
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(ImageLoadError) as info:
        open_image(BAD / "oversized.png")
    assert info.value.problem == "too_large"
    assert "10000x10000 = 100000000 pixels, over PIL.Image.MAX_IMAGE_PIXELS = 89478485" in str(info.value)
    with pytest.raises(ImageLoadError, match=r"bomb.png: refused as a decompression bomb") as info:
        open_image(BAD / "bomb.png")
    assert info.value.problem == "too_large" and "raise PIL.Image.MAX_IMAGE_PIXELS" in info.value.fix


def test_the_pixel_limit_is_pillows_own_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 600)  # the 32x32 fixture has 1024 pixels: between 1x and 2x
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # under -W error Pillow's warning is raised, and still means too large
        with pytest.raises(ImageLoadError, match="decompression bomb") as info:
            open_image(GOOD)
    assert info.value.problem == "too_large"
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # the user's explicit opt-out
    assert open_image(GOOD).size == (32, 32)


def _jpeg(path: Path, size: tuple[int, int]) -> Path:
    Image.radial_gradient("L").resize(size).convert("RGB").save(path, "JPEG", quality=85)
    return path


def test_a_large_jpeg_is_decoded_at_reduced_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _jpeg(tmp_path / "big.jpg", (2400, 1600))
    scales: list[tuple[int, int]] = []
    draft = JpegImageFile.draft

    def spy(self: JpegImageFile, mode: str | None, size: tuple[int, int] | None):  # type: ignore[no-untyped-def]
        result = draft(self, mode, size)
        scales.append(self.size)
        return result

    monkeypatch.setattr(JpegImageFile, "draft", spy)
    img = open_image(path, max_side=300)
    assert img.mode == "RGB" and img.size == (300, 200)
    assert scales and max(scales[-1]) < 2400  # the decoder produced a reduced image, not the full 2400x1600
    assert open_image(path, max_side=None).size == (2400, 1600)
    assert ImageFile(path).load().size == (2048, 1365)  # over the default max side (2048): downscaled at reset


def test_a_large_png_is_decoded_in_full_once_per_process(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.radial_gradient("L").resize((900, 600)).save(path)
    images._decode_cached.cache_clear()
    first = open_image(path, max_side=300)
    first.putpixel((0, 0), (1, 2, 3))  # callers get their own copy
    second = open_image(path, max_side=300)
    assert second.size == (300, 200) and second.getpixel((0, 0)) != (1, 2, 3)
    assert images._decode_cached.cache_info().hits == 1
    Image.radial_gradient("L").resize((600, 900)).save(path)  # replaced on disk: decoded again
    assert open_image(path, max_side=300).size == (200, 300)
    with pytest.raises(ValueError, match="max_side must be a positive number"):
        open_image(path, max_side=0)


def test_small_images_decode_unchanged() -> None:
    with Image.open(GOOD) as img:
        expected = img.convert("RGB").tobytes()
    assert open_image(GOOD).tobytes() == expected
    assert pickle.loads(pickle.dumps(ImageFile(GOOD))).load().tobytes() == expected


# --- paths written in records ----------------------------------------------------------------------------------


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    shutil.copy(GOOD, root / "sub/good.png")
    shutil.copy(GOOD, tmp_path / "secret.png")
    (root / "escape.png").symlink_to(tmp_path / "secret.png")
    (root / "inside.png").symlink_to(root / "sub/good.png")
    return root


@pytest.mark.parametrize("relative", ["../secret.png", "sub/../../secret.png", "escape.png", "ABSOLUTE"])
def test_paths_that_leave_the_image_root_are_refused_unless_allowed(root: Path, relative: str) -> None:
    relative = str(root.parent / "secret.png") if relative == "ABSOLUTE" else relative
    with pytest.raises(ImageLoadError, match="outside the image root") as info:
        resolve_image_path(root, relative)
    assert info.value.problem == "outside_root" and "allow_outside_root=True" in info.value.fix
    allowed = resolve_image_path(root, relative, allow_outside_root=True)
    assert open_image(allowed).size == (32, 32)


@pytest.mark.parametrize("relative", ["sub/good.png", "./sub/good.png", "sub/../sub/good.png", "inside.png"])
def test_paths_under_the_image_root_are_kept_as_written(root: Path, relative: str) -> None:
    assert resolve_image_path(root, relative) == root / relative
    assert resolve_image_path(root, str(root / "sub/good.png")) == root / "sub/good.png"  # absolute, but inside

