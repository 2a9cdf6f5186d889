"""Generalized advantage estimation over masked (B, T) step tensors (Table 3: γ = 1; official code: λ = 0.95)."""

from __future__ import annotations

import torch


@torch.no_grad()
def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages ``A`` and returns ``R = A + V`` (Schulman et al. 2016).

    Each row's actions are the contiguous ``mask`` steps; the last one is terminal, so
    ``V(s_{T}) = 0``:  ``δ_t = r_t + γ V(s_{t+1}) m_{t+1} − V(s_t)``,
    ``A_t = δ_t + γ λ m_{t+1} A_{t+1}``.

    >>> a, r = gae(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.8]]), torch.tensor([[1, 1]]), 1.0, 0.5)
    >>> [round(x, 4) for x in a[0].tolist()], [round(x, 4) for x in r[0].tolist()]
    ([0.4, 0.2], [0.9, 1.0])
    """
    if rewards.shape != values.shape or rewards.shape != mask.shape or rewards.dim() != 2:
        raise ValueError("rewards, values and mask must be (batch, time) tensors of one shape")
    m = mask.to(values.dtype)
    v = values * m
    next_m = torch.cat([m[:, 1:], torch.zeros_like(m[:, :1])], dim=1)
    next_v = torch.cat([v[:, 1:], torch.zeros_like(v[:, :1])], dim=1) * next_m
    delta = (rewards + gamma * next_v - v) * m
    adv = torch.zeros_like(v)
    running = torch.zeros_like(v[:, 0])
    for t in range(v.shape[1] - 1, -1, -1):
        running = delta[:, t] + gamma * lam * next_m[:, t] * running
        adv[:, t] = running
    adv = adv * m
    return adv, (adv + v) * m


@torch.no_grad()
def group_advantages(returns: torch.Tensor, group_size: int) -> torch.Tensor:
    """Leave-one-out baseline (RLOO; Ahmadian et al. 2024): ``A_i = R_i − mean_{j≠i} R_j`` over the
    ``group_size`` consecutive episodes of one problem. Critic-free; unbiased, since the baseline of
    an episode does not depend on its own actions.

    >>> group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0]), 3).tolist()
    [1.0, -0.5, -0.5, 0.0, 0.0, 0.0]
    """
    if returns.dim() != 1 or group_size < 2 or returns.numel() % group_size:
        raise ValueError(f"returns must be 1-D with a multiple of group_size >= 2 entries, got "
                         f"{tuple(returns.shape)} and group_size={group_size}")
    r = returns.view(-1, group_size)
    others = (r.sum(1, keepdim=True) - r) / (group_size - 1)
    return (r - others).reshape(-1)
