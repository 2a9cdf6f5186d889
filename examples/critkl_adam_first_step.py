"""How far do a few fresh-Adam steps move tiny-n3? Supervised steps on *gold* 3-digit continuations.

A diagnostic for the RL engine (docs/research-notes.md, section 3). Each step is one
cross-entropy step of a new Adam optimiser on 32 problems with their correct scratchpads. The script
prints the loss, then the sampled accuracy at T=1.5 on 64 fixed 3-digit problems after the step.

    python examples/critkl_adam_first_step.py --lr 1e-3
    python examples/critkl_adam_first_step.py --lr 1e-4
    python examples/critkl_adam_first_step.py --optimizer sgd --lr 10 --steps 10
    python examples/critkl_adam_first_step.py --only ln_f --lr 1e-2 --steps 10   # rises
    python examples/critkl_adam_first_step.py --only 'mlp|attn' --lr 3e-4 --steps 10   # collapses
"""

from __future__ import annotations

import argparse
import re

import numpy as np
import torch

from critkl.arithmetic import sample_rl
from critkl.model import load_model
from critkl.rollout import gold_episodes, sample_episodes, sequence_logprobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--temperature", type=float, default=1.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="regex: train only the matching parameters (e.g. ln_f)")
    ap.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = load_model("tiny-n3")
    params = [p for n, p in model.named_parameters() if p.requires_grad and re.search(args.only, n)]
    print(f"training {len(params)} tensors ({sum(p.numel() for p in params):,} weights)")
    optimizer = (torch.optim.Adam(params, lr=args.lr) if args.optimizer == "adam"
                 else torch.optim.SGD(params, lr=args.lr))
    rng = np.random.default_rng(99)
    test = [sample_rl(2, 1, rng) for _ in range(64)]

    def accuracy() -> float:
        model.eval()
        ro = sample_episodes(model, test, args.temperature, torch.Generator().manual_seed(5), 1.0, 0.0)
        return float(ro.correct.float().mean())

    print(f"before: sampled accuracy {accuracy():.3f}")
    for step in range(args.steps):
        problems = [sample_rl(2, 1, np.random.default_rng([1, step])) for _ in range(32)]
        gold = gold_episodes(problems, args.temperature)
        model.train()
        logp = sequence_logprobs(model, gold)
        loss = -(logp * gold.action_mask).sum() / gold.action_mask.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f"step {step}: loss {float(loss.detach()):.5f}, sampled accuracy after it {accuracy():.3f}",
              flush=True)


if __name__ == "__main__":
    main()
