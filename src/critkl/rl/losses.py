"""Loss terms shared by A2C and PPO: value, entropy and the (weighted) KL penalty (paper Eq. 1, §5.1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..kl import kl_estimate, masked_mean


@dataclass
class LossTerms:
    """``total = policy + c_vf · value − c_ent · entropy + α · kl`` (each a masked token mean)."""

    total: torch.Tensor
    policy: torch.Tensor
    value: torch.Tensor
    entropy: torch.Tensor
    kl: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        return {f"loss_{k}": float(getattr(self, k).detach()) for k in ("total", "policy", "value", "entropy", "kl")}


def entropy_of(step_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Entropy ``H[softmax(z / T)]`` per step, (B, T, V) → (B, T)."""
    logp = torch.log_softmax(step_logits.float() / temperature, dim=-1)
    return -(logp.exp() * logp).sum(-1)


def weighted_kl(logp: torch.Tensor, ref_logp: torch.Tensor, weight: torch.Tensor | None,
                mask: torch.Tensor, kind: str = "k2") -> torch.Tensor:
    """``mean_t w_t · k(log p_t, log q_t)`` over the mask (w ≡ 1: the standard KL; paper Eq. 1)."""
    k = kl_estimate(logp, ref_logp, kind, mask)
    return masked_mean(k if weight is None else weight * k, mask)


def combine(policy: torch.Tensor, values: torch.Tensor, returns: torch.Tensor, entropy: torch.Tensor,
            kl: torch.Tensor, mask: torch.Tensor, value_coef: float, entropy_coef: float,
            alpha: float) -> LossTerms:
    """Add the value, entropy and KL terms to a policy loss."""
    value = masked_mean((values - returns) ** 2, mask)
    ent = masked_mean(entropy, mask)
    total = policy + value_coef * value - entropy_coef * ent + alpha * kl
    return LossTerms(total, policy, value, ent, kl)
