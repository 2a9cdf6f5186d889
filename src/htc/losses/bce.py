"""Binary cross-entropy on every node (flat multi-label baseline)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from htc.losses.base import HierarchicalLoss
from htc.taxonomy import Taxonomy


class BCELoss(HierarchicalLoss):
    """``L = Σ_y −[t_y log σ(s_y) + (1−t_y) log(1−σ(s_y))]``; marginals ``σ(s)`` (not consistent).

    ``reduction="sum"`` (default) sums over nodes and averages over the batch like the other
    losses; ``"mean"`` averages over batch × nodes as the official code does (its scale is then
    about ``1/n`` of the others', which interacts with the learning rate).

    >>> from htc import Taxonomy
    >>> loss = BCELoss(Taxonomy.from_paths([["A", "A1"], ["B"]]))
    >>> round(float(loss(torch.zeros(1, 3), torch.tensor([[1., 1., 0.]]))), 4)  # 3·log 2
    2.0794
    """

    name = "bce"

    def __init__(self, taxonomy: Taxonomy, reduction: str = "sum") -> None:
        super().__init__(taxonomy)
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        self.reduction = reduction

    def loss(self, logits, targets):
        self._check(logits, targets)
        per = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        return per.mean() if self.reduction == "mean" else per.sum(dim=1).mean()

    def marginals(self, logits):
        self._check(logits)
        return torch.sigmoid(logits)
