"""critkl's batched KV-cached generation vs transformers' ``generate`` and vs prefix recompute.

Baselines, all greedy, on the same model, problems, batches and stop rules ('\\n' after
``</scratch>``, the pad token, the budget):

- ``model.generate`` (transformers, KV cache) with a per-row stopping criterion for the stop
  rules and ``max_new_tokens`` = the batch's budget: what a user would write;
- ``model.generate`` told the exact length: ``max_new_tokens`` = the longest continuation the
  batch really needs, no stopping criterion (an oracle no user has; a lower bound on its cost);
- recompute: every new token re-runs the GPT over the whole prefix, with no KV cache, as the
  authors' official code generates (batched here and not padded to the window, which is
  fairer to it than the official code). ``--no-recompute`` skips it (it is the slow one).

The script checks that every method produces the same text, then prints tokens per second and
the ratios, all measured in this run (``--repeats k``: the best of k rounds over the methods).

    python benchmarks/critkl_generation.py                     # tiny-n3, 64 three-digit problems
    python benchmarks/critkl_generation.py --problems 32 --batch-size 1 --no-recompute
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import StoppingCriteriaList

from critkl import Problem, eval_set, generate, load_model
from critkl.arithmetic import SCRATCH_CLOSE
from critkl.generation import NEWLINE_ID, PAD_ID, continuation_budget, left_pad
from critkl.tokenizer import PAD, decode, encode
from critkl_rollout import ScratchpadStop  # benchmarks/ is on sys.path when run as a script


def cut_at_stop(text: str) -> str:
    """The continuation up to its stop: the newline after ``</scratch>``, or the pad."""
    close = text.find(SCRATCH_CLOSE)
    nl = text.find("\n", close + len(SCRATCH_CLOSE)) if close >= 0 else -1
    pad = text.find(PAD)
    ends = [i + 1 for i in (nl, pad) if i >= 0]
    return text[: min(ends)] if ends else text


@torch.no_grad()
def generate_hf(model, problems: list[Problem], batch_size: int, exact: list[str] | None = None) -> list[str]:
    """Greedy ``model.generate`` over the same length-sorted batches as ``critkl.generate``.

    ``exact=None``: a stopping criterion applies the stop rules. Otherwise ``max_new_tokens`` is the
    longest of the batch's ``exact`` continuations and nothing else stops a row early."""
    prompts = [encode(p.prompt) for p in problems]
    limits = [min(continuation_budget(p), model.config.n_positions - len(s)) for p, s in zip(problems, prompts, strict=True)]
    order = sorted(range(len(problems)), key=lambda i: len(prompts[i]))
    texts = [""] * len(problems)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, mask, _ = left_pad([prompts[i] for i in idx])
        width = ids.shape[1]
        if exact is None:
            stop = StoppingCriteriaList([ScratchpadStop(width, [limits[i] for i in idx])])
            n_new = max(limits[i] for i in idx)
        else:
            stop, n_new = None, max(len(exact[i]) for i in idx)
        out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=n_new,
                             stopping_criteria=stop, pad_token_id=PAD_ID)
        for i, row in zip(idx, out[:, width:].tolist(), strict=True):
            texts[i] = cut_at_stop(decode(row))
    return texts


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
    ap.add_argument("--no-recompute", action="store_true", help="skip the slow prefix-recompute baseline")
    ap.add_argument("--repeats", type=int, default=1,
                    help="best of this many timed rounds over the methods (the recompute baseline runs once)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, _ = load_model(args.model)
    problems = eval_set(args.digits, "identical", size=args.problems, seed=0)

    methods = {
        "critkl: batched, KV cache, lean GPT-2 step": lambda: generate(model, problems, batch_size=args.batch_size),
        "critkl loop through the transformers forward":
            lambda: generate(model, problems, batch_size=args.batch_size, fast=False),
        "transformers generate, stop rules": lambda: generate_hf(model, problems, args.batch_size),
        "transformers generate, told the exact length":
            lambda: generate_hf(model, problems, args.batch_size, exact=exact),
    }
    generate(model, problems[:2], batch_size=2)  # warm-up
    generate_hf(model, problems[:2], batch_size=2)
    exact = generate(model, problems, batch_size=args.batch_size)
    texts, best = {}, dict.fromkeys(methods, float("inf"))
    for _ in range(args.repeats):  # round robin, so a busy spell of the machine hits every method alike
        for name, fn in methods.items():
            t0 = time.perf_counter()
            texts[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    rows = [(name, texts[name], best[name]) for name in methods]
    if not args.no_recompute:
        t0 = time.perf_counter()
        ref = generate_recompute(model, problems, batch_size=args.batch_size)
        rows.append(("recompute whole prefix per token (official)", ref, time.perf_counter() - t0))
    ours, t_ours = rows[0][1], rows[0][2]

    tokens = sum(len(t) for t in ours)
    same = sum(all(r[1][i] == ours[i] for r in rows) for i in range(len(ours)))
    print(f"model {args.model}, {args.problems} problems of {args.digits} digits, batch {args.batch_size}, "
          f"greedy, torch threads {torch.get_num_threads()}")
    print(f"identical outputs (all methods): {same}/{len(ours)}; generated tokens: {tokens}")
    print(f"{'method':<48}{'seconds':>10}{'tokens/s':>12}{'critkl speed-up':>17}")
    for name, texts, t in rows:
        print(f"{name:<48}{t:>10.2f}{sum(map(len, texts)) / t:>12.0f}{t / t_ours:>16.1f}x")


if __name__ == "__main__":
    main()
