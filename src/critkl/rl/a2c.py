"""The A2C loss of the authors' official code (prioritized KL: paper Eq. 1–2), on masked (B, T) step tensors."""

from __future__ import annotations

import torch

from ..kl import masked_mean
from .losses import LossTerms, combine


def a2c_loss(logp: torch.Tensor, advantages: torch.Tensor, values: torch.Tensor, returns: torch.Tensor,
             entropy: torch.Tensor, kl: torch.Tensor, mask: torch.Tensor, value_coef: float = 0.1,
             entropy_coef: float = 0.001, alpha: float = 5.0) -> LossTerms:
    """``L = −mean(log π(a|s)·A) + c_vf·mean((V(s) − R)²) − c_ent·mean(H) + α·L_KL``.

    ``kl`` is the already weighted KL term (a scalar, e.g. :func:`~critkl.rl.losses.weighted_kl`);
    ``advantages`` and ``returns`` carry no gradient.

    >>> m = torch.tensor([[1, 1]])
    >>> t = a2c_loss(torch.tensor([[-1.0, -2.0]]), torch.tensor([[0.4, 0.2]]), torch.zeros(1, 2),
    ...              torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor(0.0), m)
    >>> round(float(t.total), 4)
    0.4
    """
    policy = -masked_mean(logp * advantages.detach(), mask)
    return combine(policy, values, returns.detach(), entropy, kl, mask, value_coef, entropy_coef, alpha)
