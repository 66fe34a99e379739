"""Regenerate the ablation rows from runs.jsonl: python benchmarks/results/learning_probe/table.py"""
import json
from pathlib import Path

here = Path(__file__).parent
rows = [json.loads(l) for l in (here / "runs.jsonl").read_text().splitlines() if l.strip()]
print("| tag | env | algo | seed | steps | overrides / env_kwargs | train first→last 20% | test_id start→end | EV 2nd half | approx_kl | clip | s |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    f = lambda k, n=3: "-" if r.get(k) is None else f"{r[k]:.{n}f}"
    ov = json.dumps(r["overrides"]).replace("|", "/") + (" " + json.dumps(r["env_kwargs"]) if r["env_kwargs"] else "")
    if r.get("kl_beta"):
        ov += f" kl_beta={r['kl_beta']}"
    ev = f("explained_variance_2nd_half", 2)
    kl = f("approx_kl_2nd_half", 4) if "approx_kl_2nd_half" in r else f("kl_k3_2nd_half", 4)
    print(f"| {r['tag']} | {r['env'].split('/')[1]} | {r['algo']} | {r['seed']} | {r['steps']} | {ov} | "
          f"{f('train_first')}→{f('train_last')} | {f('test_id_start')}→{f('test_id_end')} | {ev} | {kl} | "
          f"{f('clip_fraction_2nd_half', 3)} | {r['seconds']:.0f} |")

print("\n| tag | env | algo | seeds | mean Δ train (last−first 20%) | mean Δ test_id | EV | approx_kl |")
print("|---|---|---|---|---|---|---|---|")
groups: dict = {}
for r in rows:
    groups.setdefault((r["tag"], r["env"].split("/")[1], r["algo"], r["steps"]), []).append(r)
for (tag, env, algo, steps), rs in groups.items():
    dtr = [r["train_last"] - r["train_first"] for r in rs]
    dte = [r["test_id_end"] - r["test_id_start"] for r in rs if r.get("test_id_start") is not None]
    ev = [r.get("explained_variance_2nd_half") for r in rs if r.get("explained_variance_2nd_half") is not None]
    kl = [k for r in rs if (k := r.get("approx_kl_2nd_half", r.get("kl_k3_2nd_half"))) is not None]
    m = lambda xs: "-" if not xs else f"{sum(xs) / len(xs):+.3f}"  # noqa: E731
    print(f"| {tag} ({steps}) | {env} | {algo} | {','.join(str(r['seed']) for r in rs)} | {m(dtr)} | {m(dte)} | "
          f"{'-' if not ev else f'{sum(ev) / len(ev):.2f}'} | {'-' if not kl else f'{sum(kl) / len(kl):.4f}'} |")
