"""The ``lam`` command line.

Each subcommand lives in its own module under :mod:`lam_agents.commands` and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to the function that runs it. Modules are imported when the parser is
built, and each imports its heavy dependencies (torch, transformers, SB3) inside the function it runs, so
``lam --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

# (subcommand module under lam_agents.commands); order is the order in ``lam --help``.
COMMAND_MODULES: tuple[str, ...] = ("demo", "data", "judge", "build_default", "backbone_report", "pretrain", "latent", "train", "evaluate", "chat")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lam", description="lam-gym: RL over latent actions for vision-language conversational agents."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"lam_agents.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
