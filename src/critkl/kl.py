"""Certainty of a reference model's next-token distribution (paper Eq. 2, official variant).

Both measures are normalized negentropies in [0, 1] (1: deterministic, 0: uniform) of
``r = softmax(z / T)`` over the full vocabulary ``V``:

- ``"shannon"`` (paper Eq. 2): ``J(s) = (H_max - H(r)) / H_max = 1 + Σ_a r_a log r_a / log|V|``.
- ``"max_prob"`` (official code, min-entropy): ``c(s) = 1 + log(max_a r_a) / log|V|``;
  always ``c(s) >= J(s)`` at the same temperature.

Also: per-token KL estimators k1/k2/k3 (:func:`kl_estimate`), the exact per-state KL over the
vocabulary (:func:`exact_kl`) and the prioritized weight ``w = slope · J^β + intercept``
(:func:`prioritized_weight`).
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
    0.7542
    """
    if not isinstance(ref_logits, torch.Tensor) or ref_logits.dim() < 1:
        raise ValueError("ref_logits must be a tensor with the vocabulary on its last axis")
    if kind not in CERTAINTY_KINDS:
        raise ValueError(f"kind must be one of {CERTAINTY_KINDS}, got {kind!r}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be > 0 and finite, got {temperature}")
    v = ref_logits.shape[-1]
    if v < 2:
        raise ValueError(f"ref_logits: need a vocabulary of at least 2 entries, got {v}")
    z = ref_logits.float()
    if temperature < 1.0:  # the same softmax; a tiny temperature cannot overflow the division to infinity
        z = z - z.amax(-1, keepdim=True)
        temperature = max(temperature, torch.finfo(z.dtype).tiny)  # nor round to 0 in float32
    logp = torch.log_softmax(z / temperature, dim=-1)
    if kind == "shannon":
        neg_entropy = (logp.exp() * logp).sum(-1)  # Σ r log r = -H
        return (1.0 + neg_entropy / math.log(v)).clamp(0.0, 1.0)
    return (1.0 + logp.max(-1).values / math.log(v)).clamp(0.0, 1.0)


# --------------------------------------------------------------------------- KL estimators

KL_KINDS = ("k1", "k2", "k3")


def _check_mask(mask: torch.Tensor | None, like: torch.Tensor, name: str = "mask") -> torch.Tensor | None:
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.shape != like.shape:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"{name} must be a tensor of shape {tuple(like.shape)}, got {shape}")
    return mask


def kl_estimate(logp: torch.Tensor, logq: torch.Tensor, kind: str = "k2",
                mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-token estimate of KL(π_θ ‖ π_ref) from the sampled token's log-probs (Schulman 2020).

    With ``log r = log q - log p`` (``p``: policy ``π_θ``, the sampling distribution; ``q``: reference):

    - ``k1 = -log r = log p - log q`` (paper Eq. 1's log-ratio; unbiased, can be negative);
    - ``k2 = ½ (log p - log q)²`` (paper §5.1 and official code);
    - ``k3 = (r - 1) - log r`` (unbiased, ≥ 0; GRPO's estimator).

    ``logp`` and ``logq`` are (batch, time) log-probs of the sampled tokens; positions where
    ``mask`` is 0 are set to 0.

    >>> lp, lq = torch.tensor([[-0.1, -2.0]]), torch.tensor([[-0.3, -1.0]])
    >>> [round(x, 4) for x in kl_estimate(lp, lq, "k2")[0].tolist()]
    [0.02, 0.5]
    """
    if kind not in KL_KINDS:
        raise ValueError(f"kind must be one of {KL_KINDS}, got {kind!r}")
    if not isinstance(logp, torch.Tensor) or not isinstance(logq, torch.Tensor) or logp.shape != logq.shape:
        raise ValueError("logp and logq must be tensors of the same shape")
    mask = _check_mask(mask, logp)
    diff = logp - logq
    if kind == "k1":
        out = diff
    elif kind == "k2":
        out = 0.5 * diff * diff
    else:
        out = torch.expm1(-diff) + diff
    return out if mask is None else out * mask.to(out.dtype)


def exact_kl(logits: torch.Tensor, ref_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Exact ``KL(π_T(·|s) ‖ π_ref,T(·|s)) = Σ_a p_a (log p_a − log q_a)`` per state, over the full
    vocabulary on the last axis, both distributions at ``temperature``; (…, V) → (…).

    The sampled-token estimators of :func:`kl_estimate` are what the loss uses (paper §5.1: k2);
    this is the quantity they estimate (k1, k3) or bound, for reporting.

    >>> z, zr = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    >>> round(float(exact_kl(z, zr)), 4)  # ½ log(½/0.1192) + ½ log(½/0.8808)
    0.4338
    """
    if not isinstance(logits, torch.Tensor) or not isinstance(ref_logits, torch.Tensor) \
            or logits.shape != ref_logits.shape or logits.dim() < 1:
        raise ValueError("logits and ref_logits must be tensors of one shape, vocabulary last")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be > 0 and finite, got {temperature}")
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    logq = torch.log_softmax(ref_logits.float() / temperature, dim=-1)
    return (logp.exp() * (logp - logq)).sum(-1).clamp(min=0.0)


def prioritized_weight(certainty: torch.Tensor, beta: float, slope: float = 1.0,
                       intercept: float = 0.0) -> torch.Tensor:
    """Prioritized-KL weight ``w(s) = slope · J(s)^β + intercept`` (paper Eq. 1), without gradient.

    The official code uses ``slope = 1 - b``, ``intercept = b`` with ``b = 0`` (so ``w = c^β``,
    β = 150); ``β = 0, slope = 1, intercept = 0`` gives ``w ≡ 1``, the standard KL.

    >>> prioritized_weight(torch.tensor([1.0, 0.5, 0.0]), beta=2.0).tolist()
    [1.0, 0.25, 0.0]
    """
    if not isinstance(certainty, torch.Tensor):
        raise ValueError("certainty must be a tensor")
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    with torch.no_grad():
        c = certainty.detach()
        c = c if c.is_floating_point() else c.float()
        return slope * c.clamp(0.0, 1.0).pow(beta) + intercept


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``Σ x·mask / max(Σ mask, 1)``: the mean over the valid tokens.

    >>> float(masked_mean(torch.tensor([1.0, 3.0, 9.0]), torch.tensor([1, 1, 0])))
    2.0
    """
    mask = _check_mask(mask, x).to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)
