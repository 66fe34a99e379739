"""``lam data show``: print a few samples of a task and save their images, from the synthetic tasks or real files.

Examples::

    lam data show --task mmrole --split rl --n 3
    lam data show --task mmrole --source real --split test_ood \\
        --dialogues MMRole_dataset/dialogues/in-distribution/comment \\
        --ood-dialogues MMRole_dataset/dialogues/out-of-distribution/comment.json \\
        --profiles MMRole_dataset/profiles/in-distribution MMRole_dataset/profiles/out-of-distribution \\
        --image-root MMRole_dataset/images
    lam data show --task pcogalign --source real --split sft \\
        --train PCogAlignBench/version_v4/HCMAS-train.json --image-root PCogAlignBench/version_v4
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

from lam_envs.data.types import Sample, Split
from lam_envs.tasks import TASK_REGISTRY, task_names, task_spec

SOURCES: tuple[str, ...] = ("synthetic", "real")
DEFAULT_OUT = Path("lam_data_show")
_WIDTH = 100


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``lam data show`` to the command line."""
    data = sub.add_parser("data", help="inspect task data")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = data_sub.add_parser(
        "show",
        help="print samples (id, persona, dialogue, reference) and save their images as PNG",
        description="Print samples of a task split and save each sample's image as PNG.",
    )
    p.add_argument("--task", choices=task_names(), required=True)
    p.add_argument("--split", default=Split.RL.value, choices=[s.value for s in Split])
    p.add_argument("--n", type=int, default=3, help="how many samples to show (default 3)")
    p.add_argument("--seed", type=int, default=0, help="generation seed (synthetic) or split seed (real)")
    p.add_argument("--out", type=Path, default=None, help=f"image directory (default ./{DEFAULT_OUT}/<task>/)")
    p.add_argument("--source", choices=SOURCES, default="synthetic")
    real = p.add_argument_group("real data (with --source real)")
    real.add_argument("--image-root", type=Path, default=None, help="directory that record image paths start from")
    real.add_argument("--on-error", choices=("raise", "skip"), default="raise", help="bad records: stop or skip")
    offered: set[str] = set()
    for spec in TASK_REGISTRY.values():  # each task's loader files, once each
        for file in spec.real_files:
            if file.keyword not in offered:
                offered.add(file.keyword)
                real.add_argument(
                    file.flag, dest=file.keyword, type=Path, nargs="+" if file.many else None, default=None,
                    help=file.help,
                )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Show ``args.n`` samples of ``args.task`` / ``args.split``.

    Real-data options are read with defaults, so callers such as ``lam demo`` may pass only ``task``, ``n``,
    ``split``, ``seed``, ``out`` and ``source``.

    Returns:
        0 on success; 1 if the data could not be loaded (the reason is printed to stderr); 2 for a usage error.
    """
    from lam_envs.data.real import DatasetError
    from lam_envs.data.types import ImageLoadError

    if args.n < 1:
        print(f"error: --n must be at least 1, got {args.n}", file=sys.stderr)
        return 2
    try:
        samples, note = _load(args)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (DatasetError, ValueError) as exc:
        print(f"error: could not load {args.task}/{args.split}: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out is not None else DEFAULT_OUT / args.task
    out.mkdir(parents=True, exist_ok=True)
    shown = samples[: args.n]
    print(f"== {args.task} / {args.split} ({args.source}): {len(shown)} of {len(samples)} samples; images -> {out} ==")
    if note:
        print(note)
    for i, sample in enumerate(shown, start=1):
        image_path = out / f"{i:02d}_{re.sub(r'[^A-Za-z0-9._-]+', '_', sample.id)}.png"
        try:
            sample.image.load().save(image_path, format="PNG")
        except ImageLoadError as exc:
            print(f"error: sample {sample.id!r}: {exc}", file=sys.stderr)
            return 1
        print()
        print(format_sample(i, sample, image_path))
    return 0


class _UsageError(Exception):
    """A missing or contradictory command-line option."""


def _load(args: argparse.Namespace) -> tuple[list[Sample], str]:
    source = getattr(args, "source", "synthetic")
    if source == "synthetic":
        try:
            from lam_envs.data.synthetic import synthetic_samples
        except ImportError as exc:
            raise _UsageError(f"the synthetic tasks are not available in this installation ({exc}); use --source real")
        return synthetic_samples(args.task, Split.parse(args.split), seed=args.seed, n=args.n), ""
    image_root = getattr(args, "image_root", None)
    if image_root is None:
        raise _UsageError("--source real needs --image-root (the directory record image paths start from)")
    spec = task_spec(args.task)
    files = {file.keyword: getattr(args, file.keyword, None) for file in spec.real_files}
    for file in spec.real_files:
        if file.required and not files[file.keyword]:
            raise _UsageError(f"--task {args.task} --source real needs {file.flag} ({file.required})")
    samples, report = spec.load_real(
        **files, image_root=image_root, split=args.split, seed=args.seed, on_error=getattr(args, "on_error", "raise")
    )
    return samples, report.summary()


def format_sample(number: int, sample: Sample, image_path: Path) -> str:
    """A sample as readable text: id, persona summary, dialogue, reference and where its image was saved."""
    lines = [f"[{number}] {sample.id}", _wrap("persona: ", persona_summary(sample)), "  dialogue:"]
    for turn in sample.dialogue:
        lines.append(_wrap(f"  {turn.speaker}: ", turn.text, indent=6))
    lines.append(_wrap("reference: ", sample.reference))
    lines.append(f"  image: {image_path}")
    return "\n".join(lines)


def persona_summary(sample: Sample) -> str:
    """One line about who the agent plays (MMRole) or answers (PCogAlign): the task entry's ``persona_summary``."""
    return task_spec(sample.task).summarise(sample)


def _wrap(prefix: str, text: str, indent: int = 4) -> str:
    paragraphs = [" ".join(p.split()) for p in text.splitlines() if p.strip()] or [""]
    out = []
    for k, para in enumerate(paragraphs):
        first = ("  " + prefix) if k == 0 else " " * indent
        out.append(textwrap.fill(para, width=_WIDTH, initial_indent=first, subsequent_indent=" " * indent))
    return "\n".join(out)
