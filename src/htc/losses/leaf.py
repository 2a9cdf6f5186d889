"""Leaf softmax: one logit per leaf, a softmax over leaves, marginals summed up the tree."""

from __future__ import annotations

import torch

from htc.losses.base import HierarchicalLoss
from htc.losses.structure import check_single_path, check_tree
from htc.taxonomy import Taxonomy


class LeafSoftmaxLoss(HierarchicalLoss):
    """``L = −Σ_l t_l log softmax(s)_l`` over leaves; ``p(y) = Σ_{l ∈ L(y)} softmax(s)_l``.

    The head outputs ``len(taxonomy.leaves)`` logits. A target ending at an internal node has no
    leaf term (loss 0 for that document). Trees and single-path targets only.

    >>> from htc import Taxonomy
    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> LeafSoftmaxLoss(tax).marginals(torch.zeros(1, 3)).tolist()  # leaves A1, A2, B
    [[0.6666666865348816, 0.3333333432674408, 0.3333333432674408, 0.3333333432674408]]
    """

    name = "leaf_softmax"

    def __init__(self, taxonomy: Taxonomy) -> None:
        super().__init__(taxonomy)
        check_tree(taxonomy, "leaf softmax")

    @property
    def n_outputs(self) -> int:
        return len(self.taxonomy.leaves)

    def loss(self, logits, targets):
        self._check(logits, targets)
        check_single_path(targets, self.h, "leaf softmax")
        leaf_t = targets[:, self.h.leaves]
        return -(leaf_t * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()

    def marginals(self, logits):
        self._check(logits)
        return self.h.leaves_to_nodes(torch.softmax(logits, dim=1))
