"""The PPO clipped-surrogate loss (Schulman et al. 2017) with the same value, entropy and KL terms as A2C."""

from __future__ import annotations

import torch

from ..kl import masked_mean
from .losses import LossTerms, combine


def ppo_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, values: torch.Tensor,
             returns: torch.Tensor, entropy: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor,
             clip: float = 0.2, value_coef: float = 0.1, entropy_coef: float = 0.001,
             alpha: float = 5.0, clip_high: float | None = None) -> LossTerms:
    """``−mean(min(ρ A, clip(ρ, 1−ε, 1+ε_high) A))`` with ``ρ = exp(log π − log π_old)``, plus the A2C
    terms. ``clip_high`` (``ε_high``; ``None``: ``ε``) > ``ε`` is "clip-higher" (Yu et al. 2025, DAPO):
    more room to raise the probability of unlikely tokens.

    >>> m = torch.tensor([[1]])
    >>> t = ppo_loss(torch.tensor([[0.0]]), torch.tensor([[-1.0]]), torch.tensor([[1.0]]),
    ...              torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1), torch.tensor(0.0), m)
    >>> round(float(t.policy), 4)  # ρ = e > 1.2 is clipped
    -1.2
    """
    ratio = torch.exp(logp - old_logp.detach())
    adv = advantages.detach()
    high = clip if clip_high is None else clip_high
    surrogate = torch.minimum(ratio * adv, ratio.clamp(1.0 - clip, 1.0 + high) * adv)
    policy = -masked_mean(surrogate, mask)
    return combine(policy, values, returns.detach(), entropy, kl, mask, value_coef, entropy_coef, alpha)
