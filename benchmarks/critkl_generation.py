"""critkl's batched KV-cached generation against transformers' ``generate``, at several batch sizes.

All greedy, on the same model, problems, batches and stop rules ('\\n' after ``</scratch>``, the pad
token, the budget). The baseline a user would pick comes first:

- ``model.generate`` (transformers, KV cache) with a per-row stopping criterion for the stop rules
  and ``max_new_tokens`` = the batch's budget: what a user would write;
- ``model.generate`` told the exact length: ``max_new_tokens`` = the longest continuation the
  batch really needs, no stopping criterion (an oracle no user has; a lower bound on its cost);
- critkl ``decoder="gpt2"``: the lean GPT-2 step (``critkl.fast_gpt2``), the default for GPT-2;
- critkl ``decoder="cache"``: the model's own transformers forward with a preallocated cache
  (``critkl.preallocated_cache``), the default for any other causal LM with plain attention;
- critkl ``decoder="transformers"``: the same loop with transformers' ``DynamicCache``;
- with ``--compile`` (GPT-2 only), critkl's fixed-shape step (``critkl.static_decoding``, the GPU
  loop) under ``torch.compile``; its first call, which compiles, is reported on a line of its own;
- with ``--recompute``, the authors' official scheme: every new token re-runs the GPT over the whole
  prefix with no KV cache (batched here and not padded to the window, which is fairer to it).

``--arch llama`` replaces the shipped GPT-2 with a randomly initialised Llama of the same width and
depth (no download): the ``decoder="cache"`` path on a non-GPT-2 model. A random model rarely stops
early, so every row runs its whole budget there.

The script checks that every method produces the same text, then prints seconds, tokens per second
and each method's speed against ``generate``, all measured in this run (``--repeats k``: the best of
k rounds, round robin over the methods).

It also measures, in the same run and on the same threads, the machine's limit for this work: the
throughput of one dense matmul (``batch × k`` by ``k × k``, timed after every method of every round,
best of all) with the FLOPs of one decoding step of the whole batch (every linear layer and the LM head, plus attention over the mean attended length), and
prints each method's tokens per second as a fraction of the tokens per second that rate allows
("of roofline"). The bound is optimistic for the decoders: rows that finish early leave the batch, so
later steps are smaller than ``batch`` rows.

    python benchmarks/critkl_generation.py                                    # batch 1, 32, 256
    python benchmarks/critkl_generation.py --batch-sizes 32 --threads 2 --repeats 3
    python benchmarks/critkl_generation.py --arch llama --batch-sizes 32
    python benchmarks/critkl_generation.py --batch-sizes 32 --threads 1 --profile
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from transformers import StoppingCriteriaList

from critkl import Problem, eval_set, generate, load_model
from critkl.arithmetic import SCRATCH_CLOSE
from critkl.generation import (
    NEWLINE_ID,
    PAD_ID,
    continuation_budget,
    left_pad,
    model_context,
    pick_decoder,
)
from critkl.tokenizer import PAD, decode, encode
from critkl_rollout import ScratchpadStop  # benchmarks/ is on sys.path when run as a script


def cut_at_stop(text: str) -> str:
    """The continuation up to its stop: the newline after ``</scratch>``, or the pad."""
    close = text.find(SCRATCH_CLOSE)
    nl = text.find("\n", close + len(SCRATCH_CLOSE)) if close >= 0 else -1
    pad = text.find(PAD)
    ends = [i + 1 for i in (nl, pad) if i >= 0]
    return text[: min(ends)] if ends else text


def budgets(model, problems: list[Problem], prompts: list[list[int]]) -> list[int]:
    """Each problem's new-token budget, as ``critkl.generate`` sets it: the official rule, capped by
    the context."""
    return [min(continuation_budget(p), model_context(model) - len(s)) for p, s in zip(problems, prompts, strict=True)]


@torch.no_grad()
def generate_hf(model, problems: list[Problem], batch_size: int, exact: list[str] | None = None) -> list[str]:
    """Greedy ``model.generate`` over the same length-sorted batches as ``critkl.generate``.

    ``exact=None``: a stopping criterion applies the stop rules. Otherwise ``max_new_tokens`` is the
    longest of the batch's ``exact`` continuations and nothing else stops a row early."""
    prompts = [encode(p.prompt) for p in problems]
    limits = budgets(model, problems, prompts)
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
        limits = budgets(model, batch, seqs)
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


def llama_like(reference) -> torch.nn.Module:
    """A random Llama with the shipped GPT-2's width, depth, heads, vocabulary and context."""
    from transformers import LlamaConfig, LlamaForCausalLM

    c = reference.config
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=c.vocab_size, hidden_size=c.n_embd, intermediate_size=4 * c.n_embd,
                         num_hidden_layers=c.n_layer, num_attention_heads=c.n_head,
                         num_key_value_heads=c.n_head, max_position_embeddings=c.n_positions,
                         pad_token_id=PAD_ID, bos_token_id=None, eos_token_id=None)
    return LlamaForCausalLM(config).eval()


def generate_compiled(model, problems: list[Problem], batch_size: int, step) -> list[str]:
    """Greedy decoding through critkl's fixed-shape loop with ``step`` as the decoding step."""
    from critkl.fast_gpt2 import GPT2Decoder
    from critkl.static_decoding import generate_static

    prompts = [encode(p.prompt) for p in problems]
    limits = budgets(model, problems, prompts)
    order = sorted(range(len(problems)), key=lambda i: len(prompts[i]))
    texts = [""] * len(problems)
    eager, GPT2Decoder.step_static = GPT2Decoder.step_static, step
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            outs = generate_static(model, [prompts[i] for i in idx], [limits[i] for i in idx])
            for i, o in zip(idx, outs, strict=True):
                texts[i] = decode(o)
    finally:
        GPT2Decoder.step_static = eager
    return texts


def flops_per_token(model, problems: list[Problem], texts: list[str]) -> tuple[float, float]:
    """(FLOPs of one generated token, the mean number of positions it attends to) for ``texts``
    generated from ``problems``: 2 per multiply-add of every linear layer and the LM head, plus 4·d per
    attended position per layer (scores and the weighted sum)."""
    from transformers.pytorch_utils import Conv1D

    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, (torch.nn.Linear, Conv1D)))
    c = model.config
    attended = tokens = 0
    for p, t in zip(problems, texts, strict=True):
        s, k = len(encode(p.prompt)), len(t)
        attended += k * s + k * (k + 1) // 2  # token j of the continuation sees s + j + 1 positions
        tokens += k
    context = attended / max(tokens, 1)
    return 2 * weights + 4 * c.num_hidden_layers * c.hidden_size * context, context


class DenseMatmul:
    """One ``batch × k`` by ``k × k`` float32 matmul with ``step_flops`` FLOPs (k = sqrt(step_flops /
    2·batch)), on the current torch threads. Each :meth:`sample` times about 0.3 s of them; the
    benchmark samples it between the methods, so it sees the machine as they do, and keeps the best."""

    def __init__(self, step_flops: float, batch: int) -> None:
        k = max(1, round(math.sqrt(step_flops / (2 * batch))))
        self.a, self.b, self.out = torch.randn(batch, k), torch.randn(k, k), torch.empty(batch, k)
        self.shape, self.flops = [batch, k, k], 2.0 * batch * k * k
        for _ in range(20):
            torch.mm(self.a, self.b, out=self.out)
        t0 = time.perf_counter()
        for _ in range(10):
            torch.mm(self.a, self.b, out=self.out)
        self.n = max(10, int(0.3 / max((time.perf_counter() - t0) / 10, 1e-7)))
        self.best = float("inf")

    def sample(self) -> None:
        t = time.perf_counter()
        for _ in range(self.n):
            torch.mm(self.a, self.b, out=self.out)
        self.best = min(self.best, (time.perf_counter() - t) / self.n)

    def result(self) -> dict:
        return {"shape": self.shape, "flops": self.flops, "seconds": self.best,
                "gflops_per_s": self.flops / self.best / 1e9}


def measure(model, problems, batch_size: int, repeats: int, recompute: bool, compile_step: bool = False
            ) -> tuple[list[dict], dict]:
    """One row per method (name, seconds (best of ``repeats``), tokens, identical outputs, fraction of
    the roofline) and the roofline: the FLOPs per token and the dense matmul's time and rate."""
    gpt2 = pick_decoder(model) == "gpt2"
    methods = {
        "transformers generate, stop rules": lambda: generate_hf(model, problems, batch_size),
        "transformers generate, told the exact length":
            lambda: generate_hf(model, problems, batch_size, exact=exact),
    }
    for decoder, label in (("gpt2", "lean GPT-2 step"), ("cache", "preallocated cache"),
                           ("transformers", "DynamicCache")):
        if decoder != "gpt2" or gpt2:
            methods[f"critkl decoder={decoder!r}: {label}"] = (
                lambda d=decoder: generate(model, problems, batch_size=batch_size, decoder=d))
    generate(model, problems[:2], batch_size=2)  # warm-up
    generate_hf(model, problems[:2], batch_size=2)
    exact = generate(model, problems, batch_size=batch_size)
    texts, best = {}, dict.fromkeys(methods, float("inf"))
    if compile_step and gpt2:
        from critkl.fast_gpt2 import GPT2Decoder

        step = torch.compile(GPT2Decoder.step_static, fullgraph=True, dynamic=False)
        name = "critkl fixed-shape step, torch.compile"
        t0 = time.perf_counter()
        texts[name + " (1st call)"] = generate_compiled(model, problems, batch_size, step)
        best[name + " (1st call)"] = time.perf_counter() - t0
        methods[name] = lambda: generate_compiled(model, problems, batch_size, step)
        best[name] = float("inf")
    per_token, context = flops_per_token(model, problems, exact)
    matmul = DenseMatmul(per_token * batch_size, batch_size)
    for _ in range(repeats):  # round robin, so a busy spell of the machine hits every method alike
        for name, fn in methods.items():
            t0 = time.perf_counter()
            texts[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t0)
            matmul.sample()
    if recompute:
        t0 = time.perf_counter()
        texts["recompute whole prefix per token (official)"] = generate_recompute(model, problems, batch_size)
        best["recompute whole prefix per token (official)"] = time.perf_counter() - t0
    rows = [{"method": name, "seconds": best[name], "tokens": sum(map(len, texts[name])),
             "identical": sum(a == b for a, b in zip(texts[name], exact, strict=True))} for name in best]
    mm = matmul.result()
    roof = {"flops_per_token": per_token, "mean_context": context, "matmul": mm,
            "tokens_per_s": batch_size / mm["seconds"]}
    for r in rows:
        r["roofline_fraction"] = r["tokens"] / r["seconds"] / roof["tokens_per_s"]
    return rows, roof


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-n3")
    ap.add_argument("--arch", choices=("gpt2", "llama"), default="gpt2",
                    help="llama: a random Llama of the model's size instead of the model")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256])
    ap.add_argument("--problems", type=int, default=16,
                    help="problems per batch size: max(this, the batch size)")
    ap.add_argument("--digits", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--recompute", action="store_true", help="add the slow prefix-recompute baseline")
    ap.add_argument("--compile", action="store_true", help="add the fixed-shape step under torch.compile")
    ap.add_argument("--repeats", type=int, default=1,
                    help="best of this many timed rounds over the methods (the recompute baseline runs once)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--profile", action="store_true",
                    help="also print where the lean GPT-2 step spends its time (torch.profiler, by operator)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, _ = load_model(args.model)
    if args.arch == "llama":
        model = llama_like(model)
    report = {"model": args.model, "arch": args.arch, "digits": args.digits,
              "threads": torch.get_num_threads(), "repeats": args.repeats, "batches": []}
    argv = sys.argv[1:]
    if "--json" in argv:  # the command that re-measures, without where this run wrote its figures
        del argv[argv.index("--json"):argv.index("--json") + 2]
    report["command"] = " ".join(["python benchmarks/critkl_generation.py", *argv])
    print(f"model {args.model} ({args.arch}), problems of {args.digits} digits, greedy, "
          f"torch threads {torch.get_num_threads()}, best of {args.repeats}")
    for b in args.batch_sizes:
        problems = eval_set(args.digits, "identical", size=max(b, args.problems), seed=0)
        rows, roof = measure(model, problems, b, args.repeats, args.recompute, args.compile)
        base = rows[0]["seconds"]
        print(f"\nbatch {b}: {len(problems)} problems, {rows[0]['tokens']} generated tokens")
        print(f"{'method':<52}{'seconds':>9}{'tokens/s':>10}{'vs generate':>13}{'identical':>11}"
              f"{'of roofline':>13}")
        for r in rows:
            r["speedup_vs_generate"] = base / r["seconds"]
            print(f"{r['method']:<52}{r['seconds']:>9.2f}{r['tokens'] / r['seconds']:>10.0f}"
                  f"{r['speedup_vs_generate']:>12.2f}x{r['identical']:>7}/{len(problems)}"
                  f"{r['roofline_fraction']:>12.1%}")
        mm = roof["matmul"]
        print(f"roofline: a step of {b} row(s) is {mm['flops'] / 1e6:.2f} MFLOP ({roof['flops_per_token'] / 1e6:.3f} "
              f"per token, mean attended length {roof['mean_context']:.0f}); one dense matmul "
              f"{mm['shape'][0]}×{mm['shape'][1]} @ {mm['shape'][1]}×{mm['shape'][2]} with those FLOPs takes "
              f"{mm['seconds'] * 1e3:.3f} ms ({mm['gflops_per_s']:.1f} GFLOP/s): at most "
              f"{roof['tokens_per_s']:,.0f} tokens/s")
        report["batches"].append({"batch_size": b, "problems": len(problems), "methods": rows,
                                  "roofline": roof})
        if args.profile and pick_decoder(model) == "gpt2":
            from torch.profiler import ProfilerActivity, profile

            t0 = time.perf_counter()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                generate(model, problems, batch_size=b, decoder="gpt2")
            wall = time.perf_counter() - t0
            ops = prof.key_averages()
            own = sum(e.self_cpu_time_total for e in ops) / 1e6
            print(f"\nwhere decoder='gpt2' spends its time at batch {b} (torch.profiler, which adds its own "
                  f"cost per operator): {wall:.2f} s profiled, of which {own:.2f} s inside operators "
                  f"({own / wall:.0%}; the rest is Python between them and the profiler)")
            print(ops.table(sort_by="self_cpu_time_total", row_limit=15))
            report["batches"][-1]["profile"] = {"wall_seconds": wall, "operator_seconds": own, "top": [
                {"operator": e.key, "self_seconds": e.self_cpu_time_total / 1e6, "calls": e.count}
                for e in sorted(ops, key=lambda e: -e.self_cpu_time_total)[:15]]}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
