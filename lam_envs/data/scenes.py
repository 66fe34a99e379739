"""Synthetic scenes: structured ground truth plus a deterministic Pillow rendering.

A :class:`Scene` is a background kind (which doubles as the PCogAlign location) and a few objects, each with a shape,
a colour, a size and a cell of a 3x3 layout grid. Replies can then be right or wrong about the image in checkable
ways (colours, shapes, counts, sizes, positions, place), which is what the rule-based judges score.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from PIL import Image, ImageDraw

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (250, 220, 30),
    "green": (40, 170, 60),
    "blue": (30, 80, 220),
    "purple": (140, 50, 180),
    "pink": (245, 120, 190),
    "black": (20, 20, 20),
    "white": (250, 250, 250),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "star", "cross")
SIZES: dict[str, float] = {"small": 0.07, "medium": 0.10, "large": 0.14}  # half-width as a fraction of the side
ROWS: tuple[str, ...] = ("top", "middle", "bottom")
COLUMNS: tuple[str, ...] = ("left", "centre", "right")

# Each background: (upper colour, lower colour, fraction of the height where the lower band starts, feature).
BACKGROUNDS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], float, str]] = {
    "home": ((235, 215, 180), (150, 100, 60), 0.78, "window"),
    "office": ((200, 200, 205), (90, 90, 100), 0.80, "lamp"),
    "park": ((150, 200, 240), (90, 190, 90), 0.35, "tree"),
    "street": ((170, 210, 240), (110, 110, 115), 0.40, "dashes"),
    "beach": ((140, 200, 245), (230, 210, 150), 0.45, "sea"),
    "classroom": ((245, 240, 200), (190, 160, 120), 0.82, "board"),
    "hospital": ((245, 248, 248), (150, 215, 210), 0.80, "stripe"),
    "store": ((250, 240, 225), (200, 170, 130), 0.85, "shelves"),
}
LOCATIONS: tuple[str, ...] = tuple(BACKGROUNDS)
MAX_OBJECTS = 6
_MIN_CONTRAST = 90.0  # RGB distance an object colour keeps from the background behind it


@dataclass(frozen=True)
class SceneObject:
    """One drawn object.

    Attributes:
        shape: one of :data:`SHAPES`.
        color: one of :data:`COLORS`.
        size: one of :data:`SIZES`.
        row: index into :data:`ROWS` (0 = top).
        col: index into :data:`COLUMNS` (0 = left).
        dx: horizontal jitter inside the cell, as a fraction of the cell width (-0.15..0.15).
        dy: vertical jitter, likewise.
    """

    shape: str
    color: str
    size: str
    row: int
    col: int
    dx: float = 0.0
    dy: float = 0.0

    @property
    def position(self) -> str:
        """Where the object sits, in words (``"top left"``, ``"middle centre"`` is called ``"centre"``)."""
        if self.row == 1 and self.col == 1:
            return "centre"
        return f"{ROWS[self.row]} {COLUMNS[self.col]}"

    def centre(self, side: int) -> tuple[float, float]:
        """Pixel centre of the object in an image of ``side`` pixels."""
        cell = side / 3
        return ((self.col + 0.5 + self.dx) * cell, (self.row + 0.5 + self.dy) * cell)


@dataclass(frozen=True)
class ObjectGroup:
    """Objects of one colour and shape, counted together."""

    color: str
    shape: str
    count: int
    sizes: tuple[str, ...]


@dataclass(frozen=True)
class Scene:
    """A synthetic image's ground truth. It is also an :class:`~lam_envs.data.types.ImageSource`."""

    background: str
    objects: tuple[SceneObject, ...]
    side: int = 64

    def load(self) -> Image.Image:
        """Render the scene (deterministic: same scene, same pixels), a copy of the last :data:`RENDER_CACHE_SIZE`
        scenes' renderings: an env starts an episode on a scene it has drawn before at every autoreset, and drawing
        it again (supersampled, then downscaled) took ~0.7 ms a time, a share of the 64-row env's work that a
        bare decode loop over loaded images does not have."""
        return _cached_render(self).copy()

    @property
    def location(self) -> str:
        """The place the background shows (the PCogAlign location)."""
        return self.background

    @property
    def colors(self) -> set[str]:
        return {o.color for o in self.objects}

    @property
    def shapes(self) -> set[str]:
        return {o.shape for o in self.objects}

    def groups(self) -> list[ObjectGroup]:
        """Objects grouped by (colour, shape), largest group first, ties by name (stable)."""
        counter = Counter((o.color, o.shape) for o in self.objects)
        out = []
        for (color, shape), n in counter.items():
            sizes = tuple(sorted({o.size for o in self.objects if o.color == color and o.shape == shape}))
            out.append(ObjectGroup(color, shape, n, sizes))
        return sorted(out, key=lambda g: (-g.count, g.color, g.shape))

    def count(self, color: str | None = None, shape: str | None = None) -> int:
        """How many objects match the given colour and/or shape."""
        return sum(
            1 for o in self.objects if (color is None or o.color == color) and (shape is None or o.shape == shape)
        )


def _background_color_at(background: str, y_frac: float) -> tuple[int, int, int]:
    upper, lower, split, _ = BACKGROUNDS[background]
    return lower if y_frac >= split else upper


def _distance(a: Iterable[int], b: Iterable[int]) -> float:
    return float(np.linalg.norm(np.subtract(tuple(a), tuple(b))))


@functools.lru_cache(maxsize=None)  # 8 backgrounds x 9 colours x 3 rows; called for every candidate of every scene
def color_fits(background: str, color: str, row: int) -> bool:
    """Whether an object of ``color`` in layout ``row`` stands out from the background behind it."""
    y_frac = (row + 0.5) / 3
    return _distance(COLORS[color], _background_color_at(background, y_frac)) >= _MIN_CONTRAST


def random_scene(
    rng: np.random.Generator,
    *,
    background: str | None = None,
    n_groups: int | None = None,
    side: int = 64,
) -> Scene:
    """Draw a random scene.

    Args:
        rng: the caller's generator (all randomness comes from it).
        background: fix the background kind; random when ``None``.
        n_groups: number of (colour, shape) groups, 1 to 3; random when ``None``.
        side: image side in pixels (at least 64).

    Returns:
        A scene with 1 to :data:`MAX_OBJECTS` objects on distinct cells of the 3x3 grid.
    """
    if side < 64:
        raise ValueError(f"scene side must be at least 64 pixels, got {side}")
    if background is None:
        background = LOCATIONS[int(rng.integers(len(LOCATIONS)))]
    elif background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; expected one of {', '.join(LOCATIONS)}")
    if n_groups is None:
        n_groups = int(rng.choice([1, 2, 2, 3]))
    cells = [int(c) for c in rng.permutation(9)]
    objects: list[SceneObject] = []
    used: set[tuple[str, str]] = set()
    for _ in range(n_groups):
        count = int(rng.choice([1, 1, 2, 2, 3]))
        count = min(count, MAX_OBJECTS - len(objects), len(cells))
        if count <= 0:
            break
        group_cells = [cells.pop() for _ in range(count)]
        rows = [c // 3 for c in group_cells]
        candidates = [
            (c, s)
            for c in COLORS
            for s in SHAPES
            if (c, s) not in used and all(color_fits(background, c, r) for r in rows)
        ]
        color, shape = candidates[int(rng.integers(len(candidates)))]
        used.add((color, shape))
        size = str(rng.choice(list(SIZES)))
        for cell in group_cells:
            dx, dy = (float(v) for v in rng.uniform(-0.12, 0.12, size=2).round(3))
            objects.append(SceneObject(shape, color, size, cell // 3, cell % 3, dx, dy))
    objects.sort(key=lambda o: (o.row, o.col))
    return Scene(background, tuple(objects), side)


_SUPERSAMPLE = 3


def _draw_background(draw: ImageDraw.ImageDraw, background: str, s: int) -> None:
    upper, lower, split, feature = BACKGROUNDS[background]
    draw.rectangle([0, 0, s, s], fill=upper)
    draw.rectangle([0, int(split * s), s, s], fill=lower)
    if feature == "window":
        draw.rectangle([int(0.04 * s), int(0.04 * s), int(0.18 * s), int(0.2 * s)], fill=(170, 215, 245))
    elif feature == "lamp":
        draw.rectangle([int(0.9 * s), int(0.55 * s), int(0.93 * s), int(0.8 * s)], fill=(60, 60, 60))
    elif feature == "tree":
        draw.rectangle([int(0.93 * s), int(0.2 * s), int(0.96 * s), int(0.4 * s)], fill=(110, 70, 40))
    elif feature == "dashes":
        y = int(0.72 * s)
        for x in range(0, s, s // 6):
            draw.rectangle([x, y, x + s // 12, y + max(1, s // 60)], fill=(245, 245, 245))
    elif feature == "sea":
        draw.rectangle([0, int(0.3 * s), s, int(split * s)], fill=(40, 120, 200))
    elif feature == "board":
        draw.rectangle([int(0.25 * s), int(0.02 * s), int(0.75 * s), int(0.08 * s)], fill=(30, 80, 50))
    elif feature == "stripe":
        draw.rectangle([0, int(0.02 * s), s, int(0.05 * s)], fill=(40, 150, 150))
    elif feature == "shelves":
        for y in (0.3, 0.62):
            draw.rectangle([0, int(y * s), s, int(y * s) + max(1, s // 40)], fill=(150, 110, 70))


def _draw_object(draw: ImageDraw.ImageDraw, obj: SceneObject, s: int) -> None:
    cx, cy = obj.centre(s)
    r = SIZES[obj.size] * s
    fill = COLORS[obj.color]
    outline = (0, 0, 0) if obj.color != "black" else (255, 255, 255)
    width = max(1, s // 100)
    box = [cx - r, cy - r, cx + r, cy + r]
    if obj.shape == "circle":
        draw.ellipse(box, fill=fill, outline=outline, width=width)
    elif obj.shape == "square":
        draw.rectangle(box, fill=fill, outline=outline, width=width)
    elif obj.shape == "triangle":
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=fill, outline=outline)
    elif obj.shape == "diamond":
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fill, outline=outline)
    elif obj.shape == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.45
            ang = -np.pi / 2 + k * np.pi / 5
            pts.append((cx + rad * np.cos(ang), cy + rad * np.sin(ang)))
        draw.polygon(pts, fill=fill, outline=outline)
    elif obj.shape == "cross":
        t = r * 0.38
        draw.rectangle([cx - r, cy - t, cx + r, cy + t], fill=fill)
        draw.rectangle([cx - t, cy - r, cx + t, cy + r], fill=fill)
    else:  # pragma: no cover - guarded by SHAPES
        raise ValueError(f"unknown shape {obj.shape!r}")


RENDER_CACHE_SIZE = 2048
"""Scenes whose renderings :meth:`Scene.load` keeps (least recently used dropped first): 12 KiB each at 64 pixels,
so at most ~24 MiB at the default side."""


@functools.lru_cache(maxsize=RENDER_CACHE_SIZE)
def _cached_render(scene: Scene) -> Image.Image:
    return render_scene(scene)  # never handed out: Scene.load copies it, so no caller can change the cached pixels


def render_scene(scene: Scene) -> Image.Image:
    """Draw ``scene`` as an RGB image of ``scene.side`` pixels (supersampled, then downscaled for smooth edges)."""
    s = scene.side * _SUPERSAMPLE
    img = Image.new("RGB", (s, s))
    draw = ImageDraw.Draw(img)
    _draw_background(draw, scene.background, s)
    for obj in scene.objects:
        _draw_object(draw, obj, s)
    return img.resize((scene.side, scene.side), Image.Resampling.LANCZOS)
