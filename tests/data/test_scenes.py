from __future__ import annotations

import numpy as np
import pytest

from lam_envs.data.scenes import COLORS, LOCATIONS, Scene, color_fits, random_scene


def test_same_seed_same_scene_and_pixels() -> None:
    a = random_scene(np.random.default_rng(7))
    b = random_scene(np.random.default_rng(7))
    assert a == b
    assert np.array_equal(np.asarray(a.load()), np.asarray(b.load()))


def test_scenes_are_valid_and_drawn_where_they_say() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        scene = random_scene(rng)
        img = np.asarray(scene.load()).astype(float)
        assert img.shape == (64, 64, 3)
        cells = [(o.row, o.col) for o in scene.objects]
        assert len(cells) == len(set(cells)) and 1 <= len(cells) <= 6
        for obj in scene.objects:
            assert color_fits(scene.background, obj.color, obj.row)
            x, y = obj.centre(scene.side)
            pixel = img[int(y), int(x)]
            assert np.linalg.norm(pixel - np.array(COLORS[obj.color])) < 60, (scene, obj)


def test_every_background_is_drawn_differently() -> None:
    images = [Scene(loc, ()).load() for loc in LOCATIONS]
    arrays = [np.asarray(im).astype(int) for im in images]
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            assert np.abs(arrays[i] - arrays[j]).mean() > 10


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown background 'moon'"):
        random_scene(np.random.default_rng(0), background="moon")
    with pytest.raises(ValueError, match="at least 64"):
        random_scene(np.random.default_rng(0), side=32)


def test_counts_and_groups_agree() -> None:
    scene = random_scene(np.random.default_rng(3), n_groups=3)
    assert sum(g.count for g in scene.groups()) == len(scene.objects) == scene.count()
    for g in scene.groups():
        assert scene.count(color=g.color, shape=g.shape) == g.count


def test_load_hands_out_copies_of_one_rendering() -> None:
    from lam_envs.data.scenes import render_scene

    scene = random_scene(np.random.default_rng(7))
    first = scene.load()
    assert first.tobytes() == render_scene(scene).tobytes()  # the cached pixels are the drawing's
    first.paste((0, 0, 0), (0, 0, first.width, first.height))  # a caller scribbling on its copy ...
    second = scene.load()
    assert second is not first and second.tobytes() == render_scene(scene).tobytes()  # ... leaves the cache alone
