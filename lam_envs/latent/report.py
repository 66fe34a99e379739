"""Diagnostics of a trained latent model (``lam latent report``).

On held-out data:

* next-token accuracy of the world model with the inverse model's codes (an upper bound: those codes saw the
  answer), with the policy prior's argmax codes, and the base VLM's own greedy accuracy (``lm_head(h_t)`` argmax);
* codebook usage: perplexity of the inverse codes' distribution and dead codes;
* projector NLLs (forward and reverse on paired data, cycle NLL on text-only data);
* for the most used codes, the tokens each most often emits;
* replies decoded with the prior's argmax codes vs the base VLM's greedy replies, judged by the rule judges.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from lam_envs.backbone.adapter import Backbone
from lam_envs.backbone.generate import greedy_replies
from lam_envs.backbone.inputs import Context
from lam_envs.latent.features import Features
from lam_envs.latent.inverse import code_perplexity
from lam_envs.latent.model import LatentActionModel

logger = logging.getLogger(__name__)



@dataclass
class TokenMetrics:
    """Teacher-forced next-token metrics on held-out features."""

    tokens: int
    acc_inverse: float
    acc_prior: float
    acc_base: float
    code_perplexity: float
    dead_codes: int
    prior_agreement: float
    nll_forward: float = float("nan")
    nll_reverse: float = float("nan")
    nll_cycle: float = float("nan")
    code_tokens: dict[int, list[tuple[str, int]]] = field(default_factory=dict)


@torch.no_grad()
def token_metrics(
    model: LatentActionModel, backbone: Backbone, data: Features, text: Features | None = None,
    batch_size: int = 64, top_codes: int = 8, tokens_per_code: int = 5,
) -> TokenMetrics:
    """Accuracies, codebook usage, projector NLLs and per-code tokens on held-out features.

    Args:
        model: The latent model.
        backbone: Its frozen backbone.
        data: Held-out image-text features (with text-only twins for the projector NLLs).
        text: Held-out text-only features for the cycle NLL, or ``None``.
        batch_size: Rows per forward.
        top_codes: How many of the most used codes to describe.
        tokens_per_code: Tokens listed per described code.
    """
    model.eval()
    device = backbone.device
    hits = {"inverse": 0, "prior": 0, "base": 0, "agree": 0}
    all_codes, all_tokens = [], []
    fwd, rev, count = 0.0, 0.0, 0
    for start in range(0, len(data), batch_size):
        b = data.batch(torch.arange(start, min(start + batch_size, len(data))), device)
        h = b.states[:, :-1][b.mask]
        gold = b.targets[b.mask]
        inv = model.inverse(b.states).argmax(-1)[b.mask]
        prior = model.prior(h).argmax(-1)
        emitted = model.token_logits(h, inv, backbone).argmax(-1)
        hits["inverse"] += int((emitted == gold).sum())
        hits["prior"] += int((model.token_logits(h, prior, backbone).argmax(-1) == gold).sum())
        hits["base"] += int((backbone.lm_head(h).argmax(-1) == gold).sum())
        hits["agree"] += int((prior == inv).sum())
        all_codes.append(inv.cpu())
        all_tokens.append(emitted.cpu())
        if b.text_states is not None:
            valid = torch.cat([torch.ones_like(b.mask[:, :1]), b.mask], dim=1)
            f, r = model.projector.paired_nll(b.text_states, b.states, valid)
            n = int(valid.sum())
            fwd, rev, count = fwd + float(f) * n, rev + float(r) * n, count + n
    codes, tokens = torch.cat(all_codes), torch.cat(all_tokens)
    n_tokens = int(codes.numel())
    perplexity, dead = code_perplexity(codes, model.num_codes)
    described: dict[int, list[tuple[str, int]]] = {}
    for code, _ in Counter(codes.tolist()).most_common(top_codes):
        emitted = Counter(tokens[codes == code].tolist()).most_common(tokens_per_code)
        described[code] = [(backbone.decode([t], skip_special_tokens=False), c) for t, c in emitted]
    cycle = float("nan")
    if text is not None and len(text):
        total, n_all = 0.0, 0
        for start in range(0, len(text), batch_size):
            t = text.batch(torch.arange(start, min(start + batch_size, len(text))), device)
            valid = torch.cat([torch.ones_like(t.mask[:, :1]), t.mask], dim=1)
            n = int(valid.sum())
            total, n_all = total + float(model.projector.cycle_nll(t.states, valid)) * n, n_all + n
        cycle = total / n_all
    return TokenMetrics(
        tokens=n_tokens,
        acc_inverse=hits["inverse"] / n_tokens,
        acc_prior=hits["prior"] / n_tokens,
        acc_base=hits["base"] / n_tokens,
        code_perplexity=perplexity,
        dead_codes=dead,
        prior_agreement=hits["agree"] / n_tokens,
        nll_forward=fwd / count if count else float("nan"),
        nll_reverse=rev / count if count else float("nan"),
        nll_cycle=cycle,
        code_tokens=described,
    )


def prior_replies(
    model: LatentActionModel, backbone: Backbone, contexts: Sequence[Context], max_new_tokens: int = 64,
    batch_size: int = 64,
) -> list[str]:
    """Replies decoded with the policy prior's most likely code at every step (tokens greedy given the code).

    The envs' decode engine (:func:`lam_envs.envs.engine.write_replies`) under the prior's argmax policy, i.e. a
    greedy latent env's episode.
    """
    from lam_envs.envs.engine import prior_argmax, write_context_replies

    ids = write_context_replies(backbone, contexts, prior_argmax, max_new_tokens, model, batch_size)
    return [backbone.decode(row).strip() for row in ids]


@dataclass
class JudgedReplies:
    """Mean rule-judge ratios of prior-code replies and of the base VLM's greedy replies on one task split."""

    task: str
    split: str
    n: int
    ratio_prior: float
    ratio_base: float
    examples: list[tuple[str, str]] = field(default_factory=list)
    """(prior-code reply, greedy reply) for a few samples."""

    @property
    def relative(self) -> float:
        """ratio_prior / ratio_base (the sanity target: >= 0.9)."""
        return self.ratio_prior / self.ratio_base if self.ratio_base else float("nan")


def judged_replies(
    model: LatentActionModel, backbone: Backbone, task: str, split: str = "test_id", n: int = 100, *,
    seed: int = 0, max_new_tokens: int = 64, n_examples: int = 2,
) -> JudgedReplies:
    """Judge prior-code replies and greedy replies on the first ``n`` samples of a synthetic task split."""
    from lam_envs.data.synthetic import synthetic_samples
    from lam_envs.envs.prompting import contexts_for
    from lam_envs.rewards.rules import rule_judge

    samples = synthetic_samples(task, split, seed=seed, n=n)
    contexts = contexts_for(samples, "compact")
    ours = prior_replies(model, backbone, contexts, max_new_tokens)
    base = greedy_replies(backbone, contexts, max_new_tokens)
    judge = rule_judge(task)

    def mean_ratio(replies: list[str]) -> float:
        results = judge.score(samples, replies)
        failed = [r for r in results if r.failed]
        if failed:
            raise RuntimeError(f"the rule judge failed on {len(failed)} of {len(results)} replies: {failed[0].error}")
        return float(np.mean([r.ratio for r in results]))

    return JudgedReplies(task, split, n, mean_ratio(ours), mean_ratio(base), list(zip(ours, base))[:n_examples])


def format_report(metrics: TokenMetrics, judged: Sequence[JudgedReplies], name: str = "") -> str:
    """A plain-text report."""
    m = metrics
    lines = [
        f"latent model {name}".rstrip(),
        f"held-out next-token accuracy over {m.tokens} tokens:",
        f"  world model + inverse codes (upper bound) {m.acc_inverse:.3f}",
        f"  world model + prior argmax codes          {m.acc_prior:.3f}",
        f"  base VLM greedy (lm_head(h_t))            {m.acc_base:.3f}",
        f"  prior argmax = inverse code               {m.prior_agreement:.3f}",
        f"codebook usage: perplexity {m.code_perplexity:.1f}, dead codes {m.dead_codes}",
        f"projector NLL per token (nats): forward {m.nll_forward:.1f}, reverse {m.nll_reverse:.1f}, "
        f"cycle {m.nll_cycle:.1f}",
        "most used codes -> tokens they emit (count):",
    ]
    for code, toks in m.code_tokens.items():
        lines.append(f"  code {code:4d}: " + ", ".join(f"{tok!r} x{c}" for tok, c in toks))
    for j in judged:
        lines.append(
            f"{j.task}/{j.split} (n={j.n}) judge ratio: prior codes {j.ratio_prior:.3f}, base greedy "
            f"{j.ratio_base:.3f}, relative {j.relative:.3f}"
        )
        for ours, base in j.examples:
            lines.append(f"    prior: {ours[:110]!r}\n    greedy: {base[:110]!r}")
    return "\n".join(lines)
