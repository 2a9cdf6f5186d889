"""What RL could reach with perfect credit: supervised steps on *gold* 4-digit scratchpads from tiny-n3.

RL from tiny-n3 on 4 digits never sees a success, so its reward carries no signal (docs/research-notes.md, section 1).
This script gives the model the answers instead: Adam on the cross-entropy of 32 gold 4-digit
continuations per step, and every ``--every`` steps the greedy accuracy and the mean gold log-prob
on 64 held-out RL problems (``critkl.pretrain.heldout_metrics``). It shows the model *can* learn the
longer lists quickly at lr 1e-4 once the signal is there.

    python examples/critkl_sft_upper_bound.py --lr 1e-4 --steps 40
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np
import torch

from critkl.arithmetic import sample_rl
from critkl.model import load_model
from critkl.pretrain import heldout_metrics
from critkl.rollout import gold_episodes, sequence_logprobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--only", default="", help="regex: train only the matching parameters")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = load_model("tiny-n3")
    params = [p for n, p in model.named_parameters() if p.requires_grad and re.search(args.only, n)]
    optimizer = torch.optim.Adam(params, lr=args.lr)
    t0 = time.perf_counter()
    print(f"step 0: {heldout_metrics(model.eval(), 3, 64)}", flush=True)
    for step in range(1, args.steps + 1):
        problems = [sample_rl(3, 1, np.random.default_rng([2, step, i])) for i in range(args.batch)]
        gold = gold_episodes(problems)
        model.train()
        logp = sequence_logprobs(model, gold)
        loss = -(logp * gold.action_mask).sum() / gold.action_mask.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % args.every == 0:
            print(f"step {step}: loss {float(loss.detach()):.4f}, {heldout_metrics(model.eval(), 3, 64)}, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
