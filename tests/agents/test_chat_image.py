"""``lam chat --image``: a bad image file is refused in one line, before the agent loads."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lam_agents.commands import chat

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "images"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("not_an_image.png", "is not an image file Pillow can read"),
        ("truncated.jpg", "does not decode (OSError: image file is truncated"),
        ("empty.png", "is empty (0 bytes)"),
        ("bomb.png", "refused as a decompression bomb"),
        ("nope.png", "no such file"),
        (".", "is a directory"),
    ],
)
def test_a_bad_image_is_refused_in_one_line_before_the_agent_loads(tmp_path: Path, name: str, reason: str) -> None:
    parser = argparse.ArgumentParser()
    chat.register(parser.add_subparsers())
    image = BAD / name
    # The run directory does not exist: the image must be checked before anything tries to load the agent.
    args = parser.parse_args(["chat", "--model", str(tmp_path / "no-run"), "--image", str(image), "--text", "Hi"])
    with pytest.raises(SystemExit) as info:
        args.func(args)
    message = str(info.value.code)
    assert message.startswith(f"error: --image {image}: ") and reason in message
    assert "Fix: " in message and "\n" not in message
