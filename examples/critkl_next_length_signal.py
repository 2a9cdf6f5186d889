"""Does a pre-trained model give RL any signal one length up? Success rates and gold log-prob by line.

RL with the paper's terminal reward can only start from a model that sometimes solves N+1-digit
problems. For each model this prints, on the same ``sample_rl(N, 1)`` problems (the RL task):

- greedy accuracy in distribution (1..N digits) and on N+1 digits;
- sampled N+1 accuracy at ``--temperature`` (``--samples`` draws per problem): the chance that an
  RL episode earns a success reward;
- the teacher-forced log-probability of the gold N+1 continuation (mean, median, best problem), and
  its mean split over the continuation's lines (step 1..N+1 of the scratchpad, the END line, the
  result line): where the model is far from the next length.

N is read from the model's config (``critkl_max_digits``) unless ``--digits`` is given.

    python examples/critkl_next_length_signal.py tiny-n3 tiny-n4
    python examples/critkl_next_length_signal.py runs/n3/final --problems 256 --samples 2
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from critkl.arithmetic import sample_pretrain, sample_rl
from critkl.evaluate import accuracy
from critkl.model import load_model
from critkl.rollout import gold_episodes, sequence_logprobs


def line_names(n_steps: int) -> list[str]:
    """Names of the lines of a gold continuation with ``n_steps`` digit lines."""
    return ["<scratch>"] + [f"step {k}" for k in range(1, n_steps + 1)] + ["END", "</scratch>", "result"]


def per_line_logprob(target: str, token_logps: np.ndarray) -> list[float]:
    """Sum the per-character log-probs of ``target`` over its lines (each line owns its own newline;
    the leading newline is counted with the ``<scratch>`` line)."""
    sums, line = [], 0.0
    for ch, lp in zip(target[1:], token_logps[1:], strict=True):
        line += float(lp)
        if ch == "\n":
            sums.append(line)
            line = 0.0
    sums[0] += float(token_logps[0])
    return sums


def probe(path: str, digits: int | None, problems: int, samples: int, temperature: float, seed: int) -> dict:
    model, _ = load_model(path)
    n = digits or int(getattr(model.config, "critkl_max_digits", 0))
    if n < 1:
        raise SystemExit(f"{path}: the config has no critkl_max_digits; pass --digits N")
    rng = np.random.default_rng([seed, 1])
    rl = [sample_rl(n, 1, rng) for _ in range(problems)]
    rng = np.random.default_rng([seed, 2])
    in_dist = [sample_pretrain(n, rng) for _ in range(problems)]
    batch = min(128, problems)
    sampled = [accuracy(model, rl, temperature, batch_size=batch, seed=s).mean() for s in range(samples)]
    gold = gold_episodes(rl)
    with torch.no_grad():
        logps = sequence_logprobs(model, gold)
    totals, lines = [], []
    for i, p in enumerate(rl):
        row = logps[i][gold.action_mask[i].bool()].numpy()
        totals.append(row.sum())
        lines.append(per_line_logprob(p.target, row))
    lines = np.array(lines)  # every RL problem has N+1 step lines
    return {
        "model": path, "n": n,
        "in_dist_greedy": float(accuracy(model, in_dist, 0.0, batch_size=batch).mean()),
        "next_greedy": float(accuracy(model, rl, 0.0, batch_size=batch).mean()),
        "next_sampled": float(np.mean(sampled)), "draws": problems * samples,
        "logp_mean": float(np.mean(totals)), "logp_median": float(np.median(totals)),
        "logp_max": float(np.max(totals)),
        "logp_by_line": dict(zip(line_names(n + 1), lines.mean(0).round(2).tolist(), strict=True)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="shipped names (tiny-n3) or model folders")
    ap.add_argument("--digits", type=int, default=None, help="N (default: the model's critkl_max_digits)")
    ap.add_argument("--problems", type=int, default=256)
    ap.add_argument("--samples", type=int, default=2, help="sampled draws per problem")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [probe(m, args.digits, args.problems, args.samples, args.temperature, args.seed) for m in args.models]
    table = Table(title=f"N+1 signal on sample_rl(N, 1): {args.problems} problems, T = {args.temperature}")
    for col in ("model", "N", "in-dist greedy", "N+1 greedy", "N+1 sampled", "gold log-prob mean / median / best"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["model"], str(r["n"]), f"{r['in_dist_greedy']:.3f}", f"{r['next_greedy']:.3f}",
                      f"{r['next_sampled']:.4f} ({r['draws']} draws)",
                      f"{r['logp_mean']:.1f} / {r['logp_median']:.1f} / {r['logp_max']:.1f}")
    console = Console(width=160)
    console.print(table)
    for r in rows:
        by_line = "  ".join(f"{k} {v:+.1f}" for k, v in r["logp_by_line"].items())
        console.print(f"{r['model']} (N = {r['n']}), mean gold log-prob by line: {by_line}")


if __name__ == "__main__":
    main()
