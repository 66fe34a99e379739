"""Opening image files from datasets and users: one function each for resolving and decoding, errors that name the file.

Every image the package reads from disk goes through :func:`open_image` (the real loaders' checks,
:class:`~lam_envs.data.types.ImageFile` at every reset, ``lam chat --image``), and every image path written in a
dataset record through :func:`resolve_image_path`, so a bad file is refused the same way wherever it turns up:

- a missing path, a directory, a FIFO or other non-regular file, or an empty file is refused before Pillow sees it
  (opening a FIFO would block);
- a file Pillow does not recognise, or whose data ends early, is refused after a **full decode** (``verify()``
  passes truncated JPEGs, which then fail at the first reset);
- an image of more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels is refused from its header, before any pixel is
  decoded: Pillow only *warns* between 1x and 2x its limit and raises ``DecompressionBombError`` above, and here
  both are a refusal naming the file and the limit (raise ``PIL.Image.MAX_IMAGE_PIXELS``, or set it to ``None``,
  to accept bigger files you trust);
- an image larger than ``max_side`` is decoded at reduced scale (``Image.draft`` for JPEG, which decodes straight
  to 1/2, 1/4 or 1/8 size, then ``thumbnail``), and formats that cannot decode at reduced scale are downscaled once
  and cached, so a large file costs one full decode per process, not one per reset.

Record paths are relative to the dataset's image root; a path that resolves outside it (``..``, an absolute path,
a symlink pointing out) is refused unless the caller passes ``allow_outside_root=True``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
from pathlib import Path
from typing import Iterator, Literal

from PIL import Image, UnidentifiedImageError

ImageProblem = Literal["missing", "unreadable", "too_large", "outside_root"]

DEFAULT_MAX_SIDE = 2048
"""Longest side an image is decoded at. Far above any vision tower's input (the backbone resizes to its square side,
a few hundred pixels), so only images that would be shrunk anyway are decoded smaller; COCO-sized images are
decoded exactly as before."""

_CACHE_SIZE = 16  # downscaled non-JPEG images kept per process (at most 2048x2048 RGB, 12 MB, each)
_FIX_BAD = "replace the file with a valid image (re-download or re-extract it)"
_FIX_LARGE = (
    "downscale the file, or raise PIL.Image.MAX_IMAGE_PIXELS (None disables the guard) if you trust it; "
    "it is then decoded at reduced scale"
)


class ImageLoadError(ValueError):
    """An image file that is missing, unreadable, too large, or outside its dataset's image root.

    Attributes:
        path: the file (as given, or as resolved for ``outside_root``).
        problem: what kind of problem (see :data:`ImageProblem`).
        reason: what is wrong, without the path.
        fix: how to fix it.
    """

    def __init__(self, path: Path | str, problem: ImageProblem, reason: str, fix: str) -> None:
        self.path = Path(path)
        self.problem = problem
        self.reason = reason
        self.fix = fix
        super().__init__(f"image {self.path}: {reason}. Fix: {fix}")


def resolve_image_path(root: Path | str, relative: str | Path, *, allow_outside_root: bool = False) -> Path:
    """The file a record's image path points to, refusing paths that leave the image root.

    Args:
        root: the dataset's image root.
        relative: the path as written in the record (normally relative to ``root``).
        allow_outside_root: accept a path that resolves outside ``root`` (absolute paths, ``..``, symlinks that point
            out). Off by default: a dataset file should not make the loader read arbitrary files.

    Returns:
        ``root / relative`` (not resolved, so messages show the path the record names).

    Raises:
        ImageLoadError: ``outside_root`` if the path (after following ``..`` and symlinks) is not under ``root``.
    """
    root = Path(root)
    path = root / relative  # an absolute ``relative`` replaces root here, and is then caught below
    if allow_outside_root:
        return path
    real_root, real_path = root.resolve(), path.resolve()
    if not real_path.is_relative_to(real_root):
        raise ImageLoadError(
            path, "outside_root", f"the record's path {str(relative)!r} resolves to {real_path}, outside the image "
            f"root {real_root}",
            "put the image under the image root and write its path relative to it, or pass "
            "allow_outside_root=True to the loader if the dataset points outside its root on purpose",
        )
    return path


def open_image(path: Path | str, *, max_side: int | None = DEFAULT_MAX_SIDE) -> Image.Image:
    """Open and fully decode an image file as RGB, refusing anything that is not a sound, reasonably sized image.

    Args:
        path: the file.
        max_side: longest side of the result; larger images are decoded at reduced scale and downscaled (aspect
            kept). ``None`` decodes at full size.

    Returns:
        The decoded RGB image (a new object the caller may modify).

    Raises:
        ImageLoadError: ``missing`` if there is no file, ``unreadable`` if it is not a regular, non-empty file that
            decodes completely, ``too_large`` if it has more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels.
        ValueError: if ``max_side`` is not positive.
    """
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels or None, got {max_side}")
    path = Path(path)
    st = _stat_regular_file(path)
    with _decode_errors(path), Image.open(path) as img:
        _check_pixels(path, img.size)  # from the header, before any pixel is decoded
        if max_side is None or max(img.size) <= max_side or img.format == "JPEG":
            return _decode(path, img, max_side)
    # Large, in a format without draft mode: a full decode is unavoidable, so do it once per process. The key holds
    # size and mtime (a file replaced on disk is decoded again) and the pixel limit (raising it takes effect).
    try:
        cached = _decode_cached(str(path.resolve()), st.st_mtime_ns, st.st_size, max_side, Image.MAX_IMAGE_PIXELS)
    except ImageLoadError as err:  # name the file as the caller did, not as resolved
        raise ImageLoadError(path, err.problem, err.reason, err.fix) from None
    return cached.copy()


def _stat_regular_file(path: Path) -> os.stat_result:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageLoadError(path, "missing", "no such file", "check the path, or add the file") from None
    except OSError as exc:
        raise ImageLoadError(path, "unreadable", f"cannot be accessed ({exc.strerror or exc})",
                             "check the path and its permissions") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageLoadError(path, "unreadable", "is a directory, not an image file", "point to an image file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageLoadError(path, "unreadable", "is not a regular file (a device, socket or pipe)",
                             "point to an image file")
    if st.st_size == 0:
        raise ImageLoadError(path, "unreadable", "is empty (0 bytes)", _FIX_BAD)
    return st


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _decode_cached(
    resolved: str, mtime_ns: int, size: int, max_side: int | None, max_pixels: int | None
) -> Image.Image:
    path = Path(resolved)
    with _decode_errors(path), Image.open(path) as img:
        return _decode(path, img, max_side)


def _decode(path: Path, img: Image.Image, max_side: int | None) -> Image.Image:
    _check_pixels(path, img.size)
    if max_side is not None and max(img.size) > max_side:
        # thumbnail() calls draft() first: JPEGs decode at 1/2, 1/4 or 1/8 scale, then are resampled.
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    else:
        img.load()
    return img.convert("RGB")


@contextlib.contextmanager
def _decode_errors(path: Path) -> Iterator[None]:
    """Turn whatever Pillow raises while opening or decoding ``path`` into an :class:`ImageLoadError`."""
    try:
        yield
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow warns between 1x and 2x its limit and raises above; the warning is an error under -W error.
        raise ImageLoadError(
            path, "too_large", f"refused as a decompression bomb: more pixels than PIL.Image.MAX_IMAGE_PIXELS = "
            f"{Image.MAX_IMAGE_PIXELS} (Pillow: {exc})", _FIX_LARGE,
        ) from None
    except UnidentifiedImageError:
        raise ImageLoadError(path, "unreadable", "is not an image file Pillow can read (unknown format)",
                             _FIX_BAD) from None
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types on corrupt data; this is the boundary
        raise ImageLoadError(path, "unreadable", f"does not decode ({type(exc).__name__}: {exc})", _FIX_BAD) from None


def _check_pixels(path: Path, size: tuple[int, int]) -> None:
    # Read at call time, so a user who raises (or disables, with None) Pillow's limit gets what they asked for.
    limit = Image.MAX_IMAGE_PIXELS
    pixels = size[0] * size[1]
    if limit is not None and pixels > limit:
        raise ImageLoadError(
            path, "too_large", f"has {size[0]}x{size[1]} = {pixels} pixels, over PIL.Image.MAX_IMAGE_PIXELS = "
            f"{limit} (a decompression-bomb guard)", _FIX_LARGE,
        )
