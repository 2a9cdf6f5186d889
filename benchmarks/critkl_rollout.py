"""RL rollouts (sampled episodes with their log-probs) against transformers' ``generate``.

The GPU goal: sampling RL episodes >= 10x faster than a rollout through ``model.generate``.
Every method samples one episode per problem at the policy temperature
from the same model with the same stop rules ('\\n' after ``</scratch>\\n``, pad, budget), and must
return the log-probability of every sampled token (an RL rollout needs it):

- ``generate``: ``model.generate(do_sample=True, temperature=T, output_scores=True)`` with a
  per-row stopping criterion for the stop rules; log-probs from the returned scores;
- ``dynamic``: critkl's loop (finished rows leave the batch; lean GPT-2 step) — the CPU default;
- ``static``: critkl's fixed-shape loop on the device (``critkl.static_decoding``);
- ``cuda_graph``: the same step captured once as a CUDA graph and replayed (CUDA only).

All are measured in this run, on the same problems, and printed side by side as episodes/s
and as a ratio to ``generate``. Greedy outputs of the critkl loops are checked to be equal.

    python benchmarks/critkl_rollout.py                                  # tiny-n3, 4 digits, CPU
    python benchmarks/critkl_rollout.py --model runs/paper-n7/final --digits 8 --episodes 256 \\
        --device cuda                                                    # paper model, 8 digits
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from critkl import load_model
from critkl.arithmetic import sample_rl
from critkl.generation import _CLOSE_IDS, NEWLINE_ID, PAD_ID, generate_ids, left_pad
from critkl.model import max_digits_of
from critkl.rollout import episode_limits, sample_continuations
from critkl.tokenizer import encode


class ScratchpadStop(StoppingCriteria):
    """Per-row stop: the newline after ``</scratch>\\n`` (critkl's rule), the pad token, or the row's budget.

    Incremental: each call looks only at the last few tokens, so its cost per step does not grow."""

    def __init__(self, width: int, limits: list[int]) -> None:
        self.width, self.limits = width, torch.tensor(limits)
        self.close = torch.cat([_CLOSE_IDS, torch.tensor([NEWLINE_ID])])  # '</scratch>\n'
        self.closed: torch.Tensor | None = None  # '</scratch>\n' already written
        self.done: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        new = input_ids[:, self.width:]
        n, last, k = new.shape[1], new[:, -1], len(self.close)
        if self.closed is None:
            self.closed = torch.zeros(len(new), dtype=torch.bool, device=new.device)
            self.close, self.limits = self.close.to(new.device), self.limits.to(new.device)
        stop = ((last == NEWLINE_ID) & self.closed) | (last == PAD_ID) | (n >= self.limits)
        if n >= k:
            self.closed |= (new[:, -k:] == self.close).all(-1)
        self.done = stop if self.done is None else self.done | stop
        return self.done


@torch.no_grad()
def rollout_generate(model, prompts, limits, temperature, seed):
    """Sampled episodes and their log-probs through ``model.generate``."""
    ids, mask, _ = left_pad(prompts, next(model.parameters()).device)
    width = ids.shape[1]
    torch.manual_seed(seed)
    stop = ScratchpadStop(width, limits)
    out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True,
                         temperature=temperature, top_k=0, top_p=1.0, max_new_tokens=max(limits),
                         stopping_criteria=StoppingCriteriaList([stop]), output_scores=True,
                         return_dict_in_generate=True, pad_token_id=PAD_ID)
    new = out.sequences[:, width:]
    logp = torch.stack(out.scores, 1).float().log_softmax(-1).gather(-1, new[..., None])[..., 0]
    return new.cpu(), logp.cpu()


def _time(fn, device, repeats):
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-n3")
    ap.add_argument("--digits", type=int, default=None, help="episode digits (default N+1)")
    ap.add_argument("--episodes", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2, help="best of this many timed runs per method")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model, _ = load_model(args.model)
    model.to(device).eval()
    n = max_digits_of(model)
    digits = args.digits or n + 1
    rng = np.random.default_rng(0)
    problems = [sample_rl(n, digits - n, rng) for _ in range(args.episodes)]
    prompts = [encode(p.prompt) for p in problems]
    limits = episode_limits(problems, prompts, model.config.n_positions)

    greedy = generate_ids(model, prompts, limits)
    methods = ["dynamic", "static"] + (["cuda_graph"] if device.type == "cuda" else [])
    from critkl.static_decoding import generate_static

    for m in methods[1:]:
        same = generate_static(model, prompts, limits, cuda_graph=m == "cuda_graph") == greedy
        print(f"greedy outputs of {m} equal the dynamic loop: {same}")
        if not same:
            raise SystemExit(f"{m}: greedy outputs differ from the dynamic loop")

    def ours(m):
        return lambda: sample_continuations(model, prompts, limits, args.temperature,
                                            torch.Generator(device).manual_seed(0), m)

    timings = {"generate": _time(lambda: rollout_generate(model, prompts, limits, args.temperature, 0),
                                 device, args.repeats)}
    tokens = sum(len(t) for t in ours("dynamic")()[0])
    for m in methods:
        timings[m] = _time(ours(m), device, args.repeats)
    ref = timings["generate"]
    print(f"\nmodel {args.model} (N={n}), {args.episodes} episodes of {digits} digits, T={args.temperature}, "
          f"device {device}, threads {torch.get_num_threads()}, ~{tokens / args.episodes:.0f} tokens/episode")
    print(f"{'method':<12} {'seconds':>9} {'episodes/s':>11} {'vs generate':>12}")
    for m, s in timings.items():
        print(f"{m:<12} {s:9.3f} {args.episodes / s:11.1f} {ref / s:11.1f}x")


if __name__ == "__main__":
    main()
