"""CHAMP (Vaswani et al. 2022): BCE whose negatives weigh more the farther they are from the truth."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from htc.losses.base import HierarchicalLoss
from htc.losses.structure import tree_distances
from htc.taxonomy import Taxonomy


class CHAMPLoss(HierarchicalLoss):
    """``L = Σ_{y∈Y} −log σ(s_y) + Σ_{y∉Y} w_y·(−log(1−σ(s_y)))``,
    ``w_y = 1 + β·[((d(y, Y)/d_max) + 1)² − 1]``.

    ``d(y, Y)`` is the undirected hop distance from ``y`` to the closest true node (root in the
    graph), ``d_max`` the largest pairwise distance; distances come from one all-pairs BFS. A
    document without labels uses ``d = d_max``. Official default ``β = 1e−4`` (≈ BCE). Marginals
    ``σ(s)``. Trees, DAGs and multi-path targets.

    >>> from htc import Taxonomy
    >>> tax = Taxonomy.from_paths([["A", "A1"], ["B", "B1"]])
    >>> CHAMPLoss(tax, beta=1.0).weights(torch.tensor([[1., 1., 0., 0.]])).tolist()
    [[1.0, 1.0, 2.25, 3.0625]]
    """

    name = "champ"

    def __init__(self, taxonomy: Taxonomy, beta: float = 1e-4) -> None:
        super().__init__(taxonomy)
        dist = torch.tensor(tree_distances(taxonomy), dtype=torch.float32)
        self.d_max = float(dist.max()) if dist.numel() else 1.0
        self.beta = float(beta)
        # distances are symmetric, so row i holds d(i, ·); one extra row at +inf lets padded
        # "no label" slots never be the closest. Gathering rows is a contiguous copy per label.
        self.register_buffer("dist", torch.cat([dist, torch.full((1, len(dist)), float("inf"))], 0))

    def weights(self, targets: torch.Tensor) -> torch.Tensor:
        """``w_y`` for every node (1 on true nodes)."""
        n = len(self.taxonomy)
        k = max(int(targets.sum(dim=1).max()), 1)
        idx = torch.where(targets > 0, torch.arange(n, device=targets.device), n)
        idx = idx.sort(dim=1).values[:, :k]  # true node indices, padded with n
        d = self.dist[idx].amin(dim=1).to(targets.dtype)  # (batch, n): distance to the closest true node
        d = torch.where(torch.isinf(d), torch.full_like(d, self.d_max), d)
        w = 1 + self.beta * ((d / self.d_max + 1) ** 2 - 1)
        return torch.where(targets > 0, torch.ones_like(w), w)

    def loss(self, logits, targets):
        self._check(logits, targets)
        w = self.weights(targets)
        per = -targets * F.logsigmoid(logits) - (1 - targets) * w * F.logsigmoid(-logits)
        return per.sum(dim=1).mean()

    def marginals(self, logits):
        self._check(logits)
        return torch.sigmoid(logits)
