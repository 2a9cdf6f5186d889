"""Batched KV-cached generation vs token-by-token generation that recomputes the whole prefix.

The reference is how the authors' official code generates: every new token re-runs the
GPT over the whole prefix, with no KV cache. To be fair to it, the reference here is
batched the same way and does not pad to the full window (the official code pads every
state to the window, which is slower still). Both decode greedily from the same model
and problems with the same stop rules; the script checks they produce identical text,
then prints tokens per second side by side and the ratio, all measured in this run.

    python benchmarks/critkl_generation.py            # tiny-n3, 64 three-digit problems
    python benchmarks/critkl_generation.py --problems 32 --digits 4
"""

from __future__ import annotations

import argparse
import time

import torch

from critkl import Problem, eval_set, generate, load_model
from critkl.arithmetic import SCRATCH_CLOSE
from critkl.generation import NEWLINE_ID, PAD_ID, continuation_budget
from critkl.tokenizer import decode, encode


@torch.no_grad()
def generate_recompute(model, problems: list[Problem], batch_size: int) -> list[str]:
    """Greedy decoding that re-runs the model over the full prefix for every token."""
    texts = []
    for start in range(0, len(problems), batch_size):
        batch = problems[start : start + batch_size]
        seqs = [encode(p.prompt) for p in batch]
        n_prompt = [len(s) for s in seqs]
        limits = [min(continuation_budget(p), model.config.n_positions - len(s)) for p, s in zip(batch, seqs, strict=True)]
        live = list(range(len(batch)))
        while live:
            width = max(len(seqs[i]) for i in live)
            ids = torch.full((len(live), width), PAD_ID, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, i in enumerate(live):
                ids[r, width - len(seqs[i]) :] = torch.tensor(seqs[i])
                mask[r, width - len(seqs[i]) :] = 1
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, -1]
            still = []
            for r, i in enumerate(live):
                t = int(logits[r].argmax())
                closed = SCRATCH_CLOSE in decode(seqs[i][n_prompt[i] :])
                seqs[i].append(t)
                n_new = len(seqs[i]) - n_prompt[i]
                if not ((t == NEWLINE_ID and closed) or t == PAD_ID or n_new >= limits[i]):
                    still.append(i)
            live = still
        texts += [decode(s[n:]) for s, n in zip(seqs, n_prompt, strict=True)]
    return texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-n3")
    ap.add_argument("--problems", type=int, default=64)
    ap.add_argument("--digits", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, _ = load_model(args.model)
    problems = eval_set(args.digits, "identical", size=args.problems, seed=0)

    generate(model, problems[:2], batch_size=2)  # warm-up
    t0 = time.perf_counter()
    ours = generate(model, problems, batch_size=args.batch_size)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    hf = generate(model, problems, batch_size=args.batch_size, fast=False)
    t_hf = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = generate_recompute(model, problems, batch_size=args.batch_size)
    t_ref = time.perf_counter() - t0

    tokens = sum(len(t) for t in ours)
    same = sum(a == b == c for a, b, c in zip(ours, hf, ref, strict=True))
    print(f"model {args.model}, {args.problems} problems of {args.digits} digits, batch {args.batch_size}, "
          f"greedy, torch threads {torch.get_num_threads()}")
    print(f"identical outputs: {same}/{len(ours)}; generated tokens: {tokens} (reference {sum(map(len, ref))})")
    print(f"{'method':<44}{'seconds':>10}{'tokens/s':>12}")
    print(f"{'ours: batched, KV cache, lean GPT-2 step':<44}{t_ours:>10.2f}{tokens / t_ours:>12.0f}")
    print(f"{'ours through the transformers forward':<44}{t_hf:>10.2f}{tokens / t_hf:>12.0f}")
    print(f"{'reference: recompute whole prefix per token':<44}{t_ref:>10.2f}{sum(map(len, ref)) / t_ref:>12.0f}")
    ref_tps = sum(map(len, ref)) / t_ref
    print(f"speed-up (tokens/s ours / reference): {(tokens / t_ours) / ref_tps:.1f}x "
          f"(through transformers: {(tokens / t_hf) / ref_tps:.1f}x; lean step vs transformers "
          f"forward: {t_hf / t_ours:.1f}x)")


if __name__ == "__main__":
    main()
