"""``lam judge``: check a rule-based judge against degraded replies, or score one reply.

* ``lam judge --self-check [--task T] [--n 200] [--seed 0]``: for each degraded kind (reference, paraphrase, another
  persona's reply, shuffled, hacks...) the mean score ratio, its std and the per-dimension mean ratios, on ``n``
  synthetic RL-split samples; without ``--task`` both tasks.
* ``lam judge --task T --reply "text" --index I``: score one reply against synthetic RL sample ``I``.
"""

from __future__ import annotations

import argparse

from lam_envs.tasks import task_names

_ABBREVIATIONS = {
    "instruction_adherence": "instr",
    "fluency": "fluent",
    "coherency": "coher",
    "image_text_relevance": "relev",
    "response_accuracy": "accur",
    "personality_consistency": "person",
    "knowledge_consistency": "knowl",
    "tone_consistency": "tone",
    "role_set_sensitivity": "role",
    "body_behavior_awareness": "body",
    "mind_feelings_awareness": "mind",
    "contextual_awareness": "context",
    "conversational_flow": "flow",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("judge", help="self-check the rule-based judges, or score one reply")
    p.add_argument(
        "--task", choices=task_names(), default=None, help="task to judge (every task for --self-check if omitted)"
    )
    p.add_argument("--self-check", dest="self_check", action="store_true", help="rank degraded replies")
    p.add_argument("--n", type=int, default=200, help="synthetic RL-split samples for the self-check")
    p.add_argument("--seed", type=int, default=0, help="synthetic data and degrader seed")
    p.add_argument("--reply", default=None, help="a reply to score (with --task and --index)")
    p.add_argument("--index", type=int, default=0, help="which synthetic RL sample --reply answers")
    p.set_defaults(func=run)


def _self_check(task: str, n: int, seed: int) -> None:
    from lam_envs.data.synthetic import synthetic_samples
    from lam_envs.rewards.rules import rule_judge
    from lam_envs.rewards.selfcheck import self_check_report

    judge = rule_judge(task)
    samples = synthetic_samples(task, "rl", seed=seed, n=n)
    reports = self_check_report(judge, samples, seed)
    heads = [_ABBREVIATIONS.get(d, d[:7]) for d in judge.dimensions]
    print(f"\n{task}: judge self-check on {len(samples)} RL samples (seed {seed}); columns are mean ratios")
    print(f"{'kind':28s} {'ratio':>6s} {'std':>6s} " + " ".join(f"{h:>7s}" for h in heads))
    for r in reports:
        cells = " ".join(f"{r.dimensions[d]:7.3f}" for d in judge.dimensions)
        failed = f"  ({r.failures} failed)" if r.failures else ""
        print(f"{r.kind:28s} {r.mean:6.3f} {r.std:6.3f} {cells}{failed}")


def _score_one(task: str, reply: str, index: int, seed: int) -> int:
    from lam_envs.data.synthetic import synthetic_samples
    from lam_envs.rewards.rules import rule_judge

    if index < 0:
        print(f"error: --index must be 0 or more, got {index}")
        return 2
    try:
        sample = synthetic_samples(task, "rl", seed=seed, n=index + 1)[index]
    except ValueError as exc:
        print(f"error: {exc}")
        return 2
    result = rule_judge(task).score([sample], [reply])[0]
    print(f"sample {sample.id}\nuser: {sample.query}\nreference: {sample.reference}\nreply: {reply}\n")
    if result.failed:
        print(f"judge failed: {result.error}")
        return 1
    print(f"{'dimension':26s} {'reply':>6s} {'ref':>6s}")
    for d in result.candidate:
        print(f"{d:26s} {result.candidate[d]:6.2f} {result.reference[d]:6.2f}")
    print(f"{'ratio':26s} {result.ratio:6.3f}")
    return 0


def run(args: argparse.Namespace) -> int:
    reply = getattr(args, "reply", None)
    seed = getattr(args, "seed", 0)
    if reply is not None:
        if args.task is None:
            print(f"error: --reply needs --task ({' or '.join(task_names())}) and --index")
            return 2
        return _score_one(args.task, reply, getattr(args, "index", 0), seed)
    if not getattr(args, "self_check", False):
        print("nothing to do: pass --self-check, or --task T --reply TEXT --index I")
        return 2
    if args.n < 2:
        print(f"error: --n must be at least 2 for a self-check, got {args.n}")
        return 2
    for task in [args.task] if args.task else list(task_names()):
        _self_check(task, args.n, seed)
    return 0
