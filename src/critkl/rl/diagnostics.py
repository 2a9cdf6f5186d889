"""Per-update diagnostics: w on critical vs other tokens, p(correct token) at critical positions (spec §6.4, §7)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from ..arithmetic import Problem
from ..critical import critical_positions
from ..rollout import Rollout, positions_of
from ..tokenizer import PAD, encode


def critical_step_mask(rollout: Rollout, max_digits: int) -> torch.Tensor:
    """(B, T) bool: steps that emit a critical character from a ground-truth prefix.

    A critical index i of ``problem.target`` (:func:`critkl.critical_positions`) counts only if
    the episode's first i generated characters equal the target's, so the state is the one
    the critical-token definition refers to.
    """
    out = torch.zeros_like(rollout.action_mask)
    for b, (prob, text) in enumerate(zip(rollout.problems, rollout.texts, strict=True)):
        tgt = prob.target
        first = int(rollout.action_mask[b].nonzero()[0])
        for tok in critical_positions(prob, max_digits):
            i = tok.index
            if i < len(text) and text[:i] == tgt[:i]:
                out[b, first + i] = True
    return out


def quantiles(x: torch.Tensor, prefix: str) -> dict[str, float]:
    """Mean and 10/50/90 % quantiles of a 1-D tensor (NaN when empty)."""
    x = x.detach().float().flatten()
    if x.numel() == 0:
        return {f"{prefix}_{k}": float("nan") for k in ("mean", "p10", "p50", "p90")} | {f"{prefix}_n": 0}
    q = torch.quantile(x, torch.tensor([0.1, 0.5, 0.9])).tolist()
    return {f"{prefix}_mean": float(x.mean()), f"{prefix}_p10": q[0], f"{prefix}_p50": q[1],
            f"{prefix}_p90": q[2], f"{prefix}_n": int(x.numel())}


@torch.no_grad()
def critical_token_probs(lm, problems: Sequence[Problem], max_digits: int,
                         temperature: float) -> dict[str, float]:
    """Mean ``π(correct char | ground-truth prefix)`` at each named critical position (teacher forcing).

    Names follow the official logging: ``step_k/operand_j/n+g_{comma|digit}``.
    """
    seqs = [encode(p.prompt) + encode(p.target) for p in problems]
    width = max(len(s) for s in seqs)
    pad = encode(PAD)[0]
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    attn = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        attn[i, : len(s)] = 1
    logits = lm(input_ids=ids, attention_mask=attn, position_ids=positions_of(attn)).logits
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    acc: dict[str, list[float]] = defaultdict(list)
    for i, p in enumerate(problems):
        start = len(encode(p.prompt))
        for tok in critical_positions(p, max_digits):
            pos = start + tok.index
            acc[f"p_critical/{tok.name}"].append(float(probs[i, pos - 1, ids[i, pos]]))
    return {k: float(np.mean(v)) for k, v in sorted(acc.items())}
