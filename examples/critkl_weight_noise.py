"""Is tiny-n3 fragile to any small weight change, or only to some directions? A sharpness probe.

Adds a random ±eps to every weight of every block matrix (attention and MLP) and prints the sampled
accuracy at T=1.5 on 64 fixed 3-digit problems, the same set as ``critkl_adam_first_step.py``.
Compare with one Adam step of lr 3e-4 on gold data there (each weight moves by about ±3e-4 too).
Results: docs/research-notes.md, section 3 ("The direction of the step does the damage").

    python examples/critkl_weight_noise.py
"""

from __future__ import annotations

import argparse
import re

import numpy as np
import torch

from critkl.arithmetic import sample_rl
from critkl.model import load_model
from critkl.rollout import sample_episodes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eps", type=float, nargs="+", default=[1e-4, 3e-4, 1e-3])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(99)
    test = [sample_rl(2, 1, rng) for _ in range(64)]

    def accuracy(model) -> float:
        ro = sample_episodes(model.eval(), test, 1.5, torch.Generator().manual_seed(5), 1.0, 0.0)
        return float(ro.correct.float().mean())

    print(f"unperturbed: sampled accuracy {accuracy(load_model('tiny-n3')[0]):.3f}")
    for eps in args.eps:
        for seed in range(args.seeds):
            model, _ = load_model("tiny-n3")
            g = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if p.ndim == 2 and re.search("attn|mlp", name):
                        p.add_(eps * (torch.randint(0, 2, p.shape, generator=g) * 2 - 1))
            print(f"eps {eps:g}, seed {seed}: sampled accuracy {accuracy(model):.3f}", flush=True)


if __name__ == "__main__":
    main()
