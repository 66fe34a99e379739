"""Chat with a trained agent: answer a test sample, or your own image and message.

    lam train --env lam/MMRole-Latent-v0 --steps 4096 --fair-start --out runs/chat_demo
    python examples/chat.py --model runs/chat_demo --image my_photo.png --text "What do you think of this?"
"""

from __future__ import annotations

import argparse

from PIL import Image

from lam_agents.chat import ChatAgent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="run directory written by `lam train`")
    parser.add_argument("--image", default=None, help="an image file (default: a plain test picture)")
    parser.add_argument("--text", default="What do you think of this picture?")
    parser.add_argument("--persona", default="Captain Mira",
                        help="MMRole: a character name; PCogAlign: 'home: parent; community: volunteer'")
    args = parser.parse_args()
    agent = ChatAgent.from_run(args.model)
    image = Image.open(args.image) if args.image else Image.new("RGB", (64, 64), (200, 40, 40))
    print(f"USER: {args.text}")
    print(f"AGENT ({agent.env_id}): {agent.reply(image, args.text, args.persona)}")


if __name__ == "__main__":
    main()
