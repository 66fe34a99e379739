"""``lam chat``: a trained agent answers a dataset sample or your own image and messages.

``--text`` takes one or more messages: the agent answers each in turn, its own replies staying in the conversation.
Without ``--image``, the agent answers test sample ``--index``; an agent trained on a dialogue env
(``lam/<Task>-Dialogue-<Kind>-v0``) plays that sample's whole dialogue, each reply judged against its exchange's
reference: the dialogue env's episode on the sample (:meth:`lam_agents.chat.ChatAgent.play_dialogue`).
"""

from __future__ import annotations

import argparse

from lam_envs.tasks import task_names


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="talk to a trained agent (a test sample, or --image FILE --text ...)")
    p.add_argument("--model", required=True, help="run directory written by `lam train`"
                   "; SB3 unpickles model.zip (cloudpickle), so load only runs you trust")
    p.add_argument("--task", choices=task_names(), default=None,
                   help="the run's task (checked; the agent answers only its own task)")
    p.add_argument("--index", type=int, default=0, help="test sample to answer (ignored with --image)")
    p.add_argument("--split", default="test_id", help="split of --index")
    p.add_argument("--image", default=None, help="an image file of your own")
    p.add_argument("--text", nargs="+", default=None,
                   help="your message(s) (with --image); several are a conversation, answered turn after turn")
    p.add_argument("--persona", default="Captain Mira",
                   help="MMRole: a character name; PCogAlign: a role set 'home: parent; community: volunteer'")
    p.add_argument("--sample", action="store_true", help="sample actions instead of greedy ones")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lam_agents.chat import ChatAgent
    from lam_envs.data.images import ImageLoadError, open_image
    from lam_envs.envs.config import ConversationConfig
    from lam_envs.envs.resolve import resolve_reward, resolve_samples

    image = None
    if args.image is not None:
        # Checked before the agent loads (seconds to minutes), and said in one line, not a Pillow traceback.
        if not args.text:
            raise SystemExit("--image needs --text: the message the agent answers")
        try:
            image = open_image(args.image)
        except ImageLoadError as exc:
            raise SystemExit(" ".join(f"error: --image {exc.path}: {exc.reason}. Fix: {exc.fix}".split())) from None
    agent = ChatAgent.from_run(args.model)
    if args.task is not None and args.task != agent.task:
        raise SystemExit(f"--task {args.task} but the agent in {args.model} was trained on {agent.task}")
    if image is not None:
        chat = agent.conversation(image, args.persona, deterministic=not args.sample)
        for text in args.text:
            reply = chat.say(text)
            print(f"USER: {text}\nAGENT: {reply}" if len(args.text) > 1 else reply)
        return 0
    kwargs = {k: v for k, v in vars(agent.config).items() if k not in ("split", "num_samples")}
    samples = resolve_samples(agent.task, ConversationConfig(**{**kwargs, "split": args.split}))  # type: ignore[arg-type]
    if not 0 <= args.index < len(samples):
        raise SystemExit(f"--index {args.index} is outside [0, {len(samples)}) for split {args.split}")
    sample = samples[args.index]
    judge = resolve_reward(agent.task, "rule") if agent.config.reward == "rule" else None
    if not agent.config.dialogue:
        reply = agent.reply_to(sample, deterministic=not args.sample)
        for turn in sample.dialogue:
            print(f"{turn.speaker}: {turn.text}")
        print(f"AGENT: {reply}\nREFERENCE: {sample.reference}")
        if judge is not None:
            print(f"judge ratio: {judge.score([sample], [reply])[0].ratio:.3f}")  # type: ignore[union-attr]
        return 0
    from lam_envs.data.dialogue import dialogue_scripts

    # The dialogue env's episode on the sample: each reply continues the decode state of the ones before it.
    script = dialogue_scripts([sample], agent.config.data_seed)[0]
    episode = agent.play_dialogue(args.split, args.index, deterministic=not args.sample)
    for turn in script.opening:
        print(f"{turn.speaker}: {turn.text}")
    for exchange, info in zip(script.exchanges[: agent.config.max_turns], episode, strict=True):
        for turn in exchange.user:
            print(f"{turn.speaker}: {turn.text}")
        print(f"AGENT: {info['reply']}\nREFERENCE: {exchange.reference or '(none: judged by rubric)'}")
        if judge is not None and exchange.reference:
            print(f"judge ratio: {info['judge_ratio']:.3f}")  # the env's rule judge, on the exchange as it went
    return 0
