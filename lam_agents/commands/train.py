"""``lam train``: train an SB3 / sb3-contrib algorithm or GRPO on a lam-gym env (see :mod:`lam_agents.train`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from lam_agents.algos import ALGOS

    p = sub.add_parser("train", help="train an RL agent on a lam env (PPO, A2C, DQN, QR-DQN, TRPO, ARS, ...)")
    p.add_argument("--env", required=True, help="env id, e.g. lam/MMRole-Latent-v0")
    p.add_argument("--algo", default="ppo", help=f"one of: {', '.join(ALGOS)}")
    p.add_argument("--steps", type=int, default=10_000, help="environment steps (generated tokens)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hyperparams", default=None, help="zoo-style YAML file (default: lam_agents/hyperparams/ALGO.yml)")
    p.add_argument("--n-envs", type=int, default=None, help="rows decoded together (default: from the YAML)")
    p.add_argument("--fair-start", action="store_true", help="start from the pretrained behaviour (prior / LM head)")
    p.add_argument("--kl-beta", type=float, default=None, help="KL penalty toward the fair start")
    p.add_argument("--out", default=None, help="run directory (default: runs/<algo>_<env>_s<seed>)")
    p.add_argument("--env-kwargs", default="{}",
                   help='env keywords as JSON, e.g. \'{"max_reply_tokens": 32}\'; an LLM judge: \'{"reward": '
                        '{"llm_judge": {"base_url": ..., "model": ..., "api_key_env": "JUDGE_API_KEY"}}}\'')
    p.add_argument("--checkpoint-every", type=int, default=10_000, help="steps between checkpoints (0: none)")
    p.add_argument("--sample-every", type=int, default=10, help="updates between logged sample replies")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--device", default="cpu", help="torch device of the policy (cuda only where it is available)")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its latest checkpoint (same settings; --steps is the total)")
    p.add_argument("--workers", type=int, default=1,
                   help="Ray rollout workers, each with n_envs/workers rows (default 1: no Ray)")
    p.add_argument("--ray-address", default=None, help="Ray cluster to join (default: start a local Ray)")
    p.add_argument("--worker-cpus", type=float, default=1.0, help="CPUs each rollout worker reserves")
    p.add_argument("--worker-gpus", type=float, default=0.0, help="GPUs each rollout worker reserves")
    p.add_argument("--worker-timeout", type=float, default=600.0,
                   help="seconds a rollout worker may take for one call before the run stops (default 600)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lam_agents.algos import algo_spec
    from lam_agents.env_kwargs import parse_env_kwargs
    from lam_agents.envs import EnvSettingsError
    from lam_agents.train import RunDirError, TrainConfig, TrainingInterrupted, train

    try:
        env_kwargs = parse_env_kwargs(args.env_kwargs)  # the text is never echoed: it may hold a key
    except ValueError as exc:
        raise SystemExit(f"--env-kwargs: {exc}") from None
    out = args.out or f"runs/{algo_spec(args.algo).name}_{args.env.split('/')[-1]}_s{args.seed}"
    try:
        config = TrainConfig(
            env_id=args.env, algo=args.algo, steps=args.steps, seed=args.seed, hyperparams=args.hyperparams,
            n_envs=args.n_envs, fair_start=args.fair_start, kl_beta=args.kl_beta, out=out, env_kwargs=env_kwargs,
            checkpoint_every=args.checkpoint_every, sample_every=args.sample_every, progress_bar=not args.no_progress,
            device=args.device, overwrite=args.overwrite, resume=args.resume, workers=args.workers,
            ray_address=args.ray_address, worker_cpus=args.worker_cpus, worker_gpus=args.worker_gpus,
            worker_timeout_s=args.worker_timeout,
        )
    except ValueError as exc:
        raise SystemExit(f"lam train: {exc}") from None
    try:
        run_dir = train(config)
    except (RunDirError, EnvSettingsError) as exc:  # n_envs may come from the YAML: checked where the env is made
        raise SystemExit(f"lam train: {exc}") from None
    except TrainingInterrupted as exc:
        print(f"lam train: {exc}")
        return 130 if exc.signal_name == "SIGINT" else 143
    print(f"saved {run_dir / 'model.zip'}; evaluate with: lam eval --model {run_dir}")
    return 0
