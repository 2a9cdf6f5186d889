"""Token-level controls of an RL update: KL weights shuffled across tokens (a control for where the
prioritized weights fall) and the policy gradient restricted to high-entropy tokens (Wang et al. 2025,
"Beyond the 80/20 rule"; TRL's ``top_entropy_quantile``)."""

from __future__ import annotations

import torch


@torch.no_grad()
def shuffle_weights(weight: torch.Tensor, mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The weights of the ``mask`` positions permuted at random among those positions (0 elsewhere):
    the same multiset of weights, so the same distribution and mean, no longer aligned with the states
    they were computed for.

    >>> w = torch.tensor([[0.1, 0.9, 5.0], [0.5, 0.0, 7.0]])
    >>> m = torch.tensor([[True, True, False], [True, False, False]])
    >>> s = shuffle_weights(w, m, torch.Generator().manual_seed(0))
    >>> sorted(s[m].tolist()) == sorted(w[m].tolist()), s[~m].tolist()
    (True, [0.0, 0.0, 0.0])
    """
    if weight.shape != mask.shape:
        raise ValueError(f"weight and mask must have one shape, got {tuple(weight.shape)} and {tuple(mask.shape)}")
    mask = mask.bool()
    out = torch.zeros_like(weight)
    values = weight[mask]
    out[mask] = values[torch.randperm(values.numel(), generator=generator)]
    return out


@torch.no_grad()
def top_entropy_mask(entropy: torch.Tensor, mask: torch.Tensor, quantile: float) -> torch.Tensor:
    """The ``mask`` positions whose entropy is in the top ``quantile`` fraction of all masked positions
    (at least one position; ties at the threshold kept), as a float 0/1 tensor.

    >>> e = torch.tensor([[0.1, 2.0, 0.5, 9.0]])
    >>> top_entropy_mask(e, torch.tensor([[True, True, True, False]]), 0.34).tolist()
    [[0.0, 1.0, 0.0, 0.0]]
    """
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    mask = mask.bool()
    values = entropy[mask].float()
    if values.numel() == 0:
        return mask.float()
    k = max(1, round(quantile * values.numel()))
    threshold = values.topk(k).values.min()
    return (mask & (entropy >= threshold)).float()
