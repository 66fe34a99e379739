"""Env steps/s of the conversation envs, single and batched, latent and token, next to the raw batched decode.

Usage (the exact command behind the table in the report):

    .venv/bin/python benchmarks/env_throughput.py --seed 0 --threads 2 --json benchmarks/results/env_throughput.json
    .venv/bin/python benchmarks/env_throughput.py --quick --json /tmp/quick.json    # smoke run, under a minute
    .venv/bin/python benchmarks/env_throughput.py --backbone-dir /path/to/Qwen2.5-VL-3B-Instruct \
        --latent-dir /path/to/latent --device cuda --dtype bfloat16

Backbone: ``--backbone-dir``, else the embedded default if it is installed, else a random tiny Qwen2.5-VL of the
embedded default's sizes built on the fly. Latent model: ``--latent-dir``, else a random K=128 one for that backbone
(its speed is that of a trained one: same shapes). Everything is measured in one run, on the same synthetic
MMRole RL samples, with replies of ``--reply-tokens`` tokens. Every setting starts with the backbone's prompt and
image caches emptied, so none reuses the prefills of the one measured before it. The settings behind one ratio are
timed in turns, block by block (raw decode, raw episode and vector token; vector latent and its paired token
replay), each with caches of its own, so that a drift of the machine's speed during the run falls on both sides of
the ratio alike:

* ``raw decode``: ``Backbone.step`` plus the LM head's argmax for B rows, prompts prefilled once (the floor).
* ``raw episode``: the same, plus one batched prefill of B prompts drawn at random from the samples (as the envs
  draw them, through the same caches) every ``--reply-tokens`` steps.
* ``vector latent N``: ``gym.make_vec(id, num_envs=N)`` stepped with uniformly random codes, autoresets and judging
  included. The world model turns codes into plausible tokens, EOS among them, so rows end at different steps.
* ``vector token N``: the token twin with uniformly random tokens: EOS is rare, every episode runs to the length
  limit and all rows autoreset together, in one batched prefill (the raw episode's structure).
* ``vector token paired N``: the token twin replaying the tokens the latent env emitted (same seed, so the same
  prompts): the same replies, EOS and autoresets, so it differs from ``vector latent`` by the world model's read-out
  alone.
* ``single x N``: N separate ``gym.make(id)`` envs stepped one after the other in a Python loop.

* ``dialogue 64``: the dialogue twins (``lam/MMRole-Dialogue-*-v0``) at 64 envs, same actions: a finished reply
  appends the next user turn to its row's cache (``Backbone.extend``, only the new tokens) instead of prefilling a
  new prompt, and rows sit at different turns. ``dialogue_over_reply_step_64`` is the latent dialogue env's steps/s
  over the single-reply latent env's (an extra key, no target).
* ``ppo 16``: SB3 PPO ``learn()`` with the fair start (as :mod:`lam_agents.learning` trains it: the PPO YAML's
  ``default`` entry) on 16 latent envs with the same env keywords, policy on the CPU, after one untimed rollout.

Rates are env steps (tokens) per second, medians over ``--repeats`` timed blocks of ``--steps`` steps.

Ratios (the issue-12 keys, in ``--json`` at the top level; every one measured in this run, or ``null`` with a note):

* ``env_over_raw_episode_64`` / ``env_over_raw_decode_64``: token vector env at 64 envs over raw episode / raw decode
  at 64 rows (the token env does the same work as the raw loop, plus sampling, judging and autoreset).
* ``latent_over_token_step_64`` / ``_8``: the latent env's time per step over the paired token env's (paired
  token rate over latent rate) at 64 / 8 envs: the read-out's cost; target <= 1.10 / 1.25.
  ``latent_over_random_token_step_64`` / ``_8`` (extra keys) compare against the random-token env instead, which
  also counts that random tokens keep every row in step while the latent rows end and prefill at different steps.
* ``group_prefill_speedup_8``: GRPO-style groups of 8 rows per prompt (64 latent envs, 8 groups): every block resets
  all rows pinned to 8 prompts not seen before, with autoreset off as GRPO pins them (a row that finishes waits),
  and writes one reply per row; env steps/s with the shared prefill (``ReplyBatch.share_prefill``, the default) over
  without (every row prefills its own copy of the prompt).
* ``train_over_env_16``: PPO ``learn()`` steps/s over the env alone doing the same work, 16 envs: the training
  run's own actions replayed on a fresh env of the same seed (the same replies, episodes and prefills), so the ratio
  is the policy's forward, the update and SB3's loop, nothing else. ``train_over_random_env_16`` (extra key) compares
  against the latent env with random actions instead, whose replies run longer than the policy's.
  ``env_share_of_train_16`` (extra key) is the share of ``learn()``'s time that its own env steps took, measured in
  the same run: what ``train_over_env_16`` would be if an env step cost inside training what it costs alone.

``--quick`` (small sizes: 8/16/64 envs, 8-token replies, one timed block; well under a minute on 2 cores) is a smoke
run of the whole script; its numbers are not the benchmark. The key sizes 8, 16 and 64 are always measured, whatever
``--num-envs`` says. Run the real thing on a quiet machine (another torch process on the same cores makes every
rate meaningless).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

import lam_envs  # noqa: F401  (registers the ids)
from lam_envs.backbone import Backbone, BackboneConfig
from lam_envs.envs.config import ConversationConfig
from lam_envs.envs.prompting import contexts_for
from lam_envs.envs.resolve import resolve_backbone, resolve_samples
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/timing.py, also when loaded by path
from timing import clear_caches, git_commit, machine, sync  # noqa: E402
from train_throughput import TRAIN_NUM_ENVS, train_rate  # noqa: E402

ENV_IDS = {"latent": "lam/MMRole-Latent-v0", "token": "lam/MMRole-Token-v0"}
DIALOGUE_IDS = {"latent": "lam/MMRole-Dialogue-Latent-v0", "token": "lam/MMRole-Dialogue-Token-v0"}
DIALOGUE_NUM_ENVS = 64
KEY_NUM_ENVS = (8, 16, 64)
"""Env counts the ratio keys need; always measured."""
RATIO_KEYS = (
    "env_over_raw_episode_64",
    "env_over_raw_decode_64",
    "latent_over_token_step_64",
    "latent_over_token_step_8",
    "group_prefill_speedup_8",
    "train_over_env_16",
)
EXTRA_KEYS = ("dialogue_over_reply_step_64", "latent_over_random_token_step_64", "latent_over_random_token_step_8",
              "train_over_random_env_16", "env_share_of_train_16")
"""Ratios reported beside the issue-12 keys, without a target."""
TARGETS = {"env_over_raw_episode_64": ">= 1.0", "latent_over_token_step_64": "<= 1.10",
           "latent_over_token_step_8": "<= 1.25", "group_prefill_speedup_8": ">= 1.5", "train_over_env_16": ">= 0.8"}
"""Issue 12's targets (``env_over_raw_decode_64`` has none there: the floor never prefills)."""
QUICK = {"num_envs": list(KEY_NUM_ENVS), "single_envs": 8, "steps": 8, "repeats": 1, "reply_tokens": 8,
         "num_samples": 64, "train_rollouts": 1, "train_n_steps": 8}
"""What ``--quick`` changes (flags given explicitly still win)."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one block: a smoke run in under a minute")
    parser.add_argument("--backbone-dir", type=Path, default=None, help="checkpoint dir (default: see module doc)")
    parser.add_argument("--latent-dir", type=Path, default=None, help="latent model dir (default: random K=128)")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--single-envs", type=int, default=64, help="N of the single-env loop")
    parser.add_argument("--steps", type=int, default=64, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks per setting")
    parser.add_argument("--reply-tokens", type=int, default=32, help="max_reply_tokens of every env")
    parser.add_argument("--num-samples", type=int, default=256, help="synthetic RL samples episodes draw from")
    parser.add_argument("--prompt-style", choices=["compact", "full"], default="compact",
                        help="compact: as the envs show samples to the embedded default (and the stand-in for it)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the tiny model, the envs and the actions")
    parser.add_argument("--train-rollouts", type=int, default=4, help="timed PPO rollouts (+ 1 untimed)")
    parser.add_argument("--train-n-steps", type=int, default=None, help="PPO n_steps (default: the YAML's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        parser.set_defaults(**QUICK)
    args = parser.parse_args(argv)
    for name in ("steps", "repeats", "reply_tokens", "single_envs", "train_rollouts"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be at least 1")
    widest = max([*args.num_envs, *KEY_NUM_ENVS])
    if args.num_samples < widest:
        parser.error(f"--num-samples={args.num_samples} must be at least {widest} (one prompt per row)")
    return args




def rate(block: Callable[[], int], device: torch.device, repeats: int) -> float:
    """Median steps/s over ``repeats`` calls of ``block`` (which returns the env steps it took), after one warm-up."""
    block()
    rates = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        steps = block()
        sync(device)
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


def interleaved_rates(factories: dict[str, Callable[[], Callable[[], int]]], backbone: Backbone,
                      repeats: int) -> dict[str, float]:
    """Median steps/s of each setting, its timed blocks taken **in turns** (a, b, c, a, b, c, ...) instead of one
    setting after the other, so that a drift of the machine's speed over the minutes of a run (the bare loops moved
    by up to ~35-80% between runs) falls on every setting of a ratio alike.

    Each setting keeps prompt and image caches of its own (swapped into the shared backbone for its blocks, fresh
    and empty when it starts), so it warms them as it would alone and none reuses another's prefills. Its block is
    built (``factories[label]()``, which may prefill) under its own caches, then warmed up once, before any timing.
    """
    fresh = lambda: (type(backbone.prompt_cache)(backbone.prompt_cache.max_bytes, backbone.prompt_cache.name),  # noqa: E731
                     type(backbone.image_cache)(backbone.image_cache.max_bytes, backbone.image_cache.name))
    shared = backbone.prompt_cache, backbone.image_cache
    caches = {label: fresh() for label in factories}
    blocks: dict[str, Callable[[], int]] = {}
    rates: dict[str, list[float]] = {label: [] for label in factories}
    try:
        for label, factory in factories.items():
            backbone.prompt_cache, backbone.image_cache = caches[label]
            blocks[label] = factory()
            blocks[label]()  # warm-up
        for _ in range(repeats):
            for label, block in blocks.items():
                backbone.prompt_cache, backbone.image_cache = caches[label]
                sync(backbone.device)
                start = time.perf_counter()
                steps = block()
                sync(backbone.device)
                rates[label].append(steps / (time.perf_counter() - start))
    finally:
        backbone.prompt_cache, backbone.image_cache = shared
    return {label: statistics.median(values) for label, values in rates.items()}


def raw_decode(backbone: Backbone, contexts: list, steps: int) -> Callable[[], int]:
    """A block of ``steps`` raw batched decode steps over ``len(contexts)`` rows, prompts prefilled once (the floor:
    no prefill is timed, and the rows' contexts grow for as long as they fit)."""
    holder = {"state": backbone.prefill(contexts)}

    def block() -> int:
        for _ in range(steps):
            state = holder["state"]
            if state.length + 1 > backbone.config.max_context_tokens:  # keep the no-prefill floor in range
                holder["state"] = state = backbone.prefill(contexts)
            backbone.step(state, backbone.lm_head(state.h).argmax(-1))
        return steps * len(contexts)

    return block


def raw_episode(backbone: Backbone, pool: list, n: int, steps: int, reply_tokens: int, seed: int) -> Callable[[], int]:
    """A block of ``steps`` raw batched decode steps over ``n`` rows that start an episode on ``n`` prompts drawn at
    random from ``pool`` every ``reply_tokens`` steps, as the env draws them: the backbone work of ``n`` envs whose
    replies all run to the limit (one batched prefill per episode, through the same caches, plus one step a token)."""
    rng = np.random.default_rng(seed)

    def draw() -> Any:
        return backbone.prefill([pool[i] for i in rng.integers(len(pool), size=n)])

    holder = {"state": draw(), "t": 0}

    def block() -> int:
        for _ in range(steps):
            if holder["t"] >= reply_tokens:
                holder["state"], holder["t"] = draw(), 0
            state = holder["state"]
            backbone.step(state, backbone.lm_head(state.h).argmax(-1))
            holder["t"] += 1
        return steps * n

    return block


def emitted_tokens(info: dict[str, Any], n: int) -> np.ndarray:
    """(n,) the token each row emitted in a step, from a same-step-autoreset vector env's infos: a row that finished
    has its next episode's reset info in ``info`` and the step's own in ``info["final_info"]``."""
    tokens = np.where(info.get("_token", np.zeros(n, bool)), info.get("token", 0), 0)
    final = info.get("final_info")
    if final is not None and "token" in final:
        tokens = np.where(final.get("_token", np.zeros(n, bool)), final["token"], tokens)
    return tokens.astype(np.int64)


class _EmittedTokens:
    """The tokens a latent env has emitted so far (a :func:`vector_block` ``record``), as the action rows of the
    token twin that replays them: a view that grows while the latent env steps."""

    def __init__(self, record: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.record = record

    def __len__(self) -> int:
        return len(self.record)

    def __getitem__(self, rows: slice) -> np.ndarray:
        return np.stack([tokens for tokens, _ in self.record[rows]])


def vector_block(env_id: str, n: int, kwargs: dict[str, Any], actions: np.ndarray | _EmittedTokens, steps: int,
                 seed: int, record: list[tuple[np.ndarray, np.ndarray]] | None = None) -> Callable[[], int]:
    """Blocks of ``steps`` steps of ``gym.make_vec(env_id, num_envs=n)``, taking the rows of ``actions`` (T, n) one
    after the other across blocks. ``record``: append each step's emitted tokens and which rows ended to it."""
    envs = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    envs.reset(seed=seed)
    position = {"t": 0}

    def block() -> int:
        start = position["t"]
        if start + steps > len(actions):
            raise RuntimeError(f"{len(actions)} action rows are too few for another block of {steps} steps")
        for a in actions[start : start + steps]:
            _, _, terminated, truncated, info = envs.step(a)
            if record is not None:
                record.append((emitted_tokens(info, n), terminated | truncated))
        position["t"] = start + steps
        return steps * n

    return block


def single_block(env_id: str, n: int, kwargs: dict[str, Any], steps: int, seed: int) -> Callable[[], int]:
    envs = [gym.make(env_id, **kwargs) for _ in range(n)]
    for i, env in enumerate(envs):
        env.reset(seed=seed + i)
    rng = np.random.default_rng(seed)
    actions = rng.integers(envs[0].action_space.n, size=(steps, n))

    def block() -> int:
        for a in actions:
            for env, action in zip(envs, a):
                _, _, terminated, truncated, _ = env.step(int(action))
                if terminated or truncated:
                    env.reset()
        return steps * n

    return block


GROUP_SIZE = 8
GROUP_ROWS = 64


def group_block(env_id: str, kwargs: dict[str, Any], reply_tokens: int, seed: int, share: bool) -> Callable[[], int]:
    """GRPO-style blocks: reset every row pinned to groups of ``GROUP_SIZE`` on fresh prompts, write one reply."""
    envs = gym.make_vec(env_id, num_envs=GROUP_ROWS, vectorization_mode="vector_entry_point", **kwargs)
    # A deliberate reach into the dynamics: prefill sharing is an internal optimisation (same tokens either way), not
    # an env setting, and switching it off is only how this benchmark measures what it saves.
    envs.unwrapped.batch.share_prefill = share
    num_samples = int(kwargs["num_samples"])
    rng = np.random.default_rng(seed)
    state = {"next": 0, "seeded": False}

    def block() -> int:
        groups = GROUP_ROWS // GROUP_SIZE
        prompts = [(state["next"] + g) % num_samples for g in range(groups)]
        state["next"] += groups
        pins = [p for p in prompts for _ in range(GROUP_SIZE)]
        # As GRPO writes a group (lam_agents.envs.pin_rows): a row that finishes waits for the next block's reset.
        envs.reset(seed=None if state["seeded"] else seed, options={"sample_index": pins, "autoreset": False})
        state["seeded"] = True
        for _ in range(reply_tokens):
            envs.step(rng.integers(envs.single_action_space.n, size=GROUP_ROWS))
        return GROUP_ROWS * reply_tokens

    return block


def group_rates(args: argparse.Namespace, kwargs: dict[str, Any], backbone: Backbone) -> dict[str, float]:
    """Steps/s of :func:`group_block` with and without the shared prefill, timed in turns, each with caches of its
    own (so the speed-up is the group's alone: each block's prompts are new)."""
    return interleaved_rates({
        label: (lambda share=share: group_block(ENV_IDS["latent"], kwargs, args.reply_tokens, args.seed, share))
        for label, share in (("shared", True), ("unshared", False))
    }, backbone, args.repeats)


def ratios(result: dict[str, Any]) -> tuple[dict[str, float | None], dict[str, str]]:
    """The issue-12 ratio keys from the measured rates, and a note for every key left ``null``."""
    rows = {r["num_envs"]: r for r in result["rows"]}
    out: dict[str, float | None] = {
        "env_over_raw_episode_64": rows[64]["vector_token"] / rows[64]["raw_episode"],
        "env_over_raw_decode_64": rows[64]["vector_token"] / rows[64]["raw_decode"],
        "latent_over_token_step_64": rows[64]["vector_token_paired"] / rows[64]["vector_latent"],
        "latent_over_token_step_8": rows[8]["vector_token_paired"] / rows[8]["vector_latent"],
        "group_prefill_speedup_8": result["groups"]["shared"] / result["groups"]["unshared"],
        "train_over_env_16": result["train"]["steps_per_s"] / result["train"]["replay_steps_per_s"],
        "train_over_random_env_16": result["train"]["steps_per_s"] / rows[TRAIN_NUM_ENVS]["vector_latent"],
        "env_share_of_train_16": result["train"]["env_share_of_run"],
        "dialogue_over_reply_step_64": result["dialogue"]["latent"] / rows[DIALOGUE_NUM_ENVS]["vector_latent"],
        "latent_over_random_token_step_64": rows[64]["vector_token"] / rows[64]["vector_latent"],
        "latent_over_random_token_step_8": rows[8]["vector_token"] / rows[8]["vector_latent"],
    }
    notes: dict[str, str] = {}
    return out, notes


def run(args: argparse.Namespace, backbone_dir: Path, latent_dir: Path, tmp: Path) -> dict[str, Any]:
    kwargs = env_kwargs(args, backbone_dir, latent_dir)
    config = ConversationConfig(**kwargs)
    backbone, _ = resolve_backbone(config)  # the envs' own (one per process): the loops and envs share its caches
    num_codes = int(json.loads((latent_dir / "config.json").read_text())["num_codes"])
    samples = resolve_samples("mmrole", config)
    style = args.prompt_style
    kwargs["prompt_style"] = style
    device = backbone.device
    rows: list[dict[str, Any]] = []
    pool = contexts_for(samples, style)
    blocks = 1 + args.repeats  # rate() runs one warm-up block, then the timed ones
    for n in sorted({*args.num_envs, *KEY_NUM_ENVS}):
        row: dict[str, Any] = {"num_envs": n}
        codes = np.random.default_rng(args.seed).integers(num_codes, size=(blocks * args.steps, n))
        tokens = np.random.default_rng(args.seed).integers(backbone.vocab_size, size=(blocks * args.steps, n))
        # The ratios' two pairs are timed in turns (see interleaved_rates): the token env against the bare loops,
        # and the latent env against the token twin replaying the latent env's tokens (the same prompts, replies,
        # EOS and autoresets, so the two differ only by the world model's read-out). The replay's block k reads
        # the tokens the latent env emitted in its block k, which runs just before it.
        row.update(interleaved_rates({
            "raw_decode": lambda: raw_decode(backbone, pool[:n], args.steps),
            "raw_episode": lambda: raw_episode(backbone, pool, n, args.steps, args.reply_tokens, args.seed),
            "vector_token": lambda: vector_block(ENV_IDS["token"], n, kwargs, tokens, args.steps, args.seed),
        }, backbone, args.repeats))
        emitted: list[tuple[np.ndarray, np.ndarray]] = []
        replayed = _EmittedTokens(emitted)
        row.update(interleaved_rates({
            "vector_latent": lambda: vector_block(ENV_IDS["latent"], n, kwargs, codes, args.steps, args.seed, emitted),
            "vector_token_paired": lambda: vector_block(ENV_IDS["token"], n, kwargs, replayed, args.steps, args.seed),
        }, backbone, args.repeats))
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    single = {}
    for kind, env_id in ENV_IDS.items():
        steps = max(1, args.steps // 4)  # N envs stepped one by one: fewer rounds keep the run short
        clear_caches(backbone)
        single[kind] = rate(single_block(env_id, args.single_envs, kwargs, steps, args.seed), device, args.repeats)
    dialogue = {}
    for kind, env_id in DIALOGUE_IDS.items():
        n_actions = num_codes if kind == "latent" else backbone.vocab_size
        actions = np.random.default_rng(args.seed).integers(n_actions, size=(blocks * args.steps, DIALOGUE_NUM_ENVS))
        clear_caches(backbone)
        dialogue[kind] = rate(vector_block(env_id, DIALOGUE_NUM_ENVS, kwargs, actions, args.steps, args.seed), device,
                              args.repeats)
    print(json.dumps({"dialogue": dialogue}), file=sys.stderr, flush=True)
    groups = group_rates(args, kwargs, backbone)
    print(json.dumps({"groups": groups}), file=sys.stderr, flush=True)
    train = train_rate(args, kwargs, tmp / "ppo", backbone, ENV_IDS["latent"])
    print(json.dumps({"train": train}), file=sys.stderr, flush=True)
    return {"rows": rows, "single": single, "dialogue": dialogue, "groups": groups, "train": train,
            "prompt_style": style}






def command(argv: Sequence[str]) -> str:
    return shlex.join(["python", "benchmarks/env_throughput.py", *argv])


def report(args: argparse.Namespace, argv: Sequence[str], result: dict[str, Any], backbone_name: str) -> None:
    """Print the command, the setting, the table of rates and the table of ratio keys (with their targets)."""
    print(f"command: {command(argv)}")
    print(f"machine: {machine(args.device)} | threads {torch.get_num_threads()} | commit {git_commit()}")
    print(
        f"seed {args.seed} | torch {torch.__version__} | {args.device} {args.dtype} | backbone {backbone_name} "
        f"| reply tokens {args.reply_tokens} | prompts {result['prompt_style']}{' | QUICK (smoke sizes)' * args.quick}"
    )
    print("| N | raw decode | raw episode | vector token | vector token paired | vector latent | token/raw decode "
          "| token/raw episode | latent step / paired token step | latent step / token step |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in result["rows"]:
        print(
            f"| {r['num_envs']} | {r['raw_decode']:.0f} | {r['raw_episode']:.0f} | {r['vector_token']:.0f} | "
            f"{r['vector_token_paired']:.0f} | {r['vector_latent']:.0f} | {r['vector_token'] / r['raw_decode']:.2f} | "
            f"{r['vector_token'] / r['raw_episode']:.2f} | {r['vector_token_paired'] / r['vector_latent']:.2f} | "
            f"{r['vector_token'] / r['vector_latent']:.2f} |"
        )
    single = result["single"]
    widest = max(result["rows"], key=lambda r: r["num_envs"])
    n = args.single_envs
    print(f"single envs x {n} in a loop: token {single['token']:.0f} steps/s, latent {single['latent']:.0f} steps/s")
    print(
        f"vector {widest['num_envs']} / single x {n}: token {widest['vector_token'] / single['token']:.1f}x, latent "
        f"{widest['vector_latent'] / single['latent']:.1f}x (target >= 8x)"
    )
    dialogue = result["dialogue"]
    print(f"dialogue episodes, {DIALOGUE_NUM_ENVS} envs: token {dialogue['token']:.0f} steps/s, latent "
          f"{dialogue['latent']:.0f} steps/s")
    groups = result["groups"]
    print(f"GRPO-style groups of {GROUP_SIZE} x {GROUP_ROWS // GROUP_SIZE} prompts: shared prefill "
          f"{groups['shared']:.0f} steps/s, unshared {groups['unshared']:.0f} steps/s")
    train = result["train"]
    print(f"PPO learn() with the fair start, {train['num_envs']} latent envs, n_steps {train['n_steps']}, "
          f"{train['timed_steps']} timed steps: {train['steps_per_s']:.0f} steps/s; its actions replayed on the env "
          f"alone: {train['replay_steps_per_s']:.0f} steps/s, median of {len(train['replay_rates'])} (same rewards: "
          f"{train['replay_matches']}); its env steps took {train['env_share_of_run']:.0%} of learn()")
    print()
    print("| ratio | value | target |")
    print("|---|---:|---|")
    for key in (*RATIO_KEYS, *EXTRA_KEYS):
        value = result["ratios"][key]
        shown = f"{value:.2f}" if value is not None else "null"
        print(f"| {key} | {shown} | {TARGETS.get(key, '')} |")
    for key, note in result["notes"].items():
        print(f"{key}: {note}")


def models(args: argparse.Namespace, tmp: Path) -> tuple[Path, Path, str]:
    """``(backbone dir, latent model dir, backbone name)``: ``--backbone-dir`` or the embedded default (a random tiny
    Qwen2.5-VL of its sizes where it is not built), and ``--latent-dir`` or a random K = 128 latent model over it
    (saved under ``tmp``)."""
    from lam_envs.backbone.default import default_backbone_dir
    from lam_envs.builders.tiny import build_tiny_qwen2_5_vl
    from lam_envs.latent.model import random_latent_model

    backbone_dir = args.backbone_dir
    name = str(backbone_dir)
    if backbone_dir is None and (default_backbone_dir() / "config.json").is_file():
        backbone_dir, name = default_backbone_dir(), "embedded default"
    elif backbone_dir is None:
        backbone_dir = build_tiny_qwen2_5_vl(tmp / "tiny_qwen", seed=args.seed)
        name = "random tiny Qwen2.5-VL (embedded default sizes)"
    latent_dir = args.latent_dir
    if latent_dir is None:
        backbone = Backbone(BackboneConfig(Path(backbone_dir).resolve(), device=args.device, dtype=args.dtype))
        latent_dir = random_latent_model(backbone, num_codes=128, seed=args.seed).save_pretrained(tmp / "lat")
    return Path(backbone_dir), Path(latent_dir), name


def env_kwargs(args: argparse.Namespace, backbone_dir: Path, latent_dir: Path) -> dict[str, Any]:
    """The keywords every env of the benchmark is made with."""
    return {"backbone": str(backbone_dir), "latent_model": str(latent_dir), "device": args.device,
            "dtype": args.dtype, "num_samples": args.num_samples, "max_reply_tokens": args.reply_tokens}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        backbone_dir, latent_dir, name = models(args, Path(tmp))
        result = run(args, backbone_dir, latent_dir, Path(tmp))
    result["ratios"], result["notes"] = ratios(result)
    report(args, argv, result, name)
    if args.json is not None:
        record = {
            **result["ratios"],
            "notes": result["notes"],
            "command": command(argv),
            "argv": argv,
            "machine": machine(args.device),
            "threads": torch.get_num_threads(),
            "commit": git_commit(),
            "torch": torch.__version__,
            "backbone": name,
            "seed": args.seed,
            "quick": args.quick,
            **{k: v for k, v in result.items() if k not in ("ratios", "notes")},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2, allow_nan=False))
    return result


if __name__ == "__main__":
    main()
