"""Rendering an episode: an ``"ansi"`` transcript and an ``"rgb_array"`` frame drawn with Pillow.

The frame shows the scene on the left and, on the right, who the agent is (the persona), the user's last turn and
the reply so far, word-wrapped. It uses Pillow's built-in bitmap font so that it needs no font files.
"""

from __future__ import annotations

import textwrap

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lam_envs.data.types import Sample
from lam_envs.tasks import task_spec

FRAME_HEIGHT = 256
TEXT_WIDTH = 320
_WRAP = 52  # characters per line of the bitmap font in TEXT_WIDTH pixels
_LINE = 12  # pixels per line


def persona_line(sample: Sample) -> str:
    """One line naming who the agent plays or answers (its task entry's ``persona_line``)."""
    return task_spec(sample.task).persona_line_for(sample)


def transcript(sample: Sample, reply: str, *, finished: bool) -> str:
    """The ``"ansi"`` rendering: persona, dialogue so far and the reply (marked unfinished while it is)."""
    lines = [f"[{sample.task} {sample.id}] {persona_line(sample)}"]
    lines += [f"{turn.speaker}: {turn.text}" for turn in sample.dialogue]
    lines.append(f"Agent: {reply}{'' if finished else ' ...'}")
    return "\n".join(lines) + "\n"


def frame(sample: Sample, reply: str) -> np.ndarray:
    """The ``"rgb_array"`` rendering: (256, 576, 3) uint8 with the scene, persona, user turn and reply."""
    scene = sample.image.load().convert("RGB").resize((FRAME_HEIGHT, FRAME_HEIGHT), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (FRAME_HEIGHT + TEXT_WIDTH, FRAME_HEIGHT), (250, 250, 245))
    canvas.paste(scene, (0, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    y = 6
    blocks = [((40, 40, 120), persona_line(sample)), ((20, 20, 20), f"User: {sample.query}"), ((120, 30, 30), f"Agent: {reply}")]
    for colour, text in blocks:
        for line in textwrap.wrap(text, _WRAP) or [""]:
            if y > FRAME_HEIGHT - _LINE:
                break
            draw.text((FRAME_HEIGHT + 8, y), line, fill=colour, font=font)
            y += _LINE
        y += _LINE // 2
    return np.asarray(canvas, dtype=np.uint8)
