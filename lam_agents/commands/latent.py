"""``lam latent report``: diagnostics of a trained latent action model on held-out data."""

from __future__ import annotations

import argparse
from pathlib import Path

from lam_envs.tasks import task_names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("latent", help="inspect latent action models")
    inner = p.add_subparsers(dest="latent_command", metavar="SUBCOMMAND")
    r = inner.add_parser(
        "report",
        help="next-token accuracies, codebook usage, projector NLLs, per-code tokens and judged prior-code replies",
    )
    r.add_argument("--model", type=Path, nargs="+", default=None,
                   help="latent checkpoint dir(s) (default: the shipped default); several compare ablations")
    r.add_argument("--backbone", type=Path, default=None, help="backbone checkpoint dir (default: embedded)")
    r.add_argument("--n-tokens-samples", type=int, default=200, help="held-out examples for the token metrics")
    r.add_argument("--n", type=int, default=100, help="samples per task for the judged replies (0: skip)")
    r.add_argument("--split", default="test_id", choices=["test_id", "test_ood", "rl"], help="task split judged")
    r.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    r.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    r.set_defaults(func=run)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from lam_envs.backbone import Backbone, BackboneConfig
    from lam_envs.backbone.default import default_backbone_dir
    from lam_envs.latent.features import extract_features
    from lam_envs.latent.model import LatentActionModel, default_latent_dir
    from lam_envs.latent.pipeline import PretrainDataConfig, heldout_examples
    from lam_envs.latent.report import format_report, judged_replies, token_metrics

    torch.set_num_threads(args.threads)
    backbone = Backbone(BackboneConfig(args.backbone or default_backbone_dir()))
    data = dataclasses.replace(PretrainDataConfig(), seed=args.seed)
    paired_ex, text_ex = heldout_examples(data, args.n_tokens_samples, args.n_tokens_samples)
    paired = extract_features(backbone, paired_ex, with_text_twin=True, max_answer_tokens=data.max_answer_tokens)
    text = extract_features(backbone, text_ex, max_answer_tokens=data.max_answer_tokens)
    for path in args.model or [default_latent_dir()]:
        model = LatentActionModel.from_pretrained(path, device=backbone.device)
        model.check_backbone(backbone)
        metrics = token_metrics(model, backbone, paired, text)
        judged = [
            judged_replies(model, backbone, task, args.split, args.n, seed=args.seed)
            for task in (task_names() if args.n > 0 else ())
        ]
        print(format_report(metrics, judged, name=str(path)))
    return 0
