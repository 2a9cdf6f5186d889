"""Certainty of a reference model's next-token distribution (paper Eq. 2, official variant).

Both measures are normalized negentropies in [0, 1] (1: deterministic, 0: uniform) of
``r = softmax(z / T)`` over the full vocabulary ``V``:

- ``"shannon"`` (paper Eq. 2): ``J(s) = (H_max - H(r)) / H_max = 1 + Σ_a r_a log r_a / log|V|``.
- ``"max_prob"`` (official code, min-entropy): ``c(s) = 1 + log(max_a r_a) / log|V|``;
  always ``c(s) >= J(s)`` at the same temperature.

The next issue's prioritized KL weights each token by ``certainty(...) ** beta``.
"""

from __future__ import annotations

import math

import torch

CERTAINTY_KINDS = ("shannon", "max_prob")


def certainty(ref_logits: torch.Tensor, kind: str = "shannon", temperature: float = 1.0) -> torch.Tensor:
    """Normalized negentropy of ``softmax(ref_logits / temperature)`` over the last axis.

    >>> z = torch.tensor([[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]])
    >>> certainty(z).round(decimals=4).tolist()
    [0.0, 1.0]
    >>> round(float(certainty(torch.tensor([2.0, 0.0, 0.0, 0.0]), "max_prob")), 4)
    0.2687
    """
    if not isinstance(ref_logits, torch.Tensor) or ref_logits.dim() < 1:
        raise ValueError("ref_logits must be a tensor with the vocabulary on its last axis")
    if kind not in CERTAINTY_KINDS:
        raise ValueError(f"kind must be one of {CERTAINTY_KINDS}, got {kind!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    v = ref_logits.shape[-1]
    if v < 2:
        raise ValueError(f"ref_logits: need a vocabulary of at least 2 entries, got {v}")
    logp = torch.log_softmax(ref_logits.float() / temperature, dim=-1)
    if kind == "shannon":
        neg_entropy = (logp.exp() * logp).sum(-1)  # Σ r log r = -H
        return (1.0 + neg_entropy / math.log(v)).clamp(0.0, 1.0)
    return (1.0 + logp.max(-1).values / math.log(v)).clamp(0.0, 1.0)
