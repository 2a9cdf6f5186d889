"""Leaf softmax: one logit per leaf, a softmax over leaves, marginals summed up the tree."""

from __future__ import annotations

import torch

from htc.losses.base import HierarchicalLoss
from htc.losses.structure import check_single_path, check_tree
from htc.taxonomy import Taxonomy


class LeafSoftmaxLoss(HierarchicalLoss):
    """``L = −Σ_l t̃_l log softmax(s)_l`` over leaves; ``p(y) = Σ_{l ∈ L(y)} softmax(s)_l``.

    The head outputs ``len(taxonomy.leaves)`` logits. The target ``t̃`` is uniform over the
    document's positive leaves, ``t̃_l = t_l / Σ_k t_k``: one leaf (a single path) gets 1, the
    paper's loss; ``k`` leaves (``multi_positive=True``, multi-path targets) get ``1/k`` each, the
    softmax cross-entropy with split targets of Mahajan et al. 2018 ("Exploring the limits of
    weakly supervised pretraining"). A path ending at an internal node has no leaf, hence no term:
    a document whose paths all end at internal nodes has loss 0, and in a document with both kinds
    only the leaf ends share the mass (the leaves under an internal end count as negatives).
    ``multi_positive=False`` refuses multi-path targets. Trees only.

    >>> from htc import Taxonomy
    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> LeafSoftmaxLoss(tax).marginals(torch.zeros(1, 3)).tolist()  # leaves A1, A2, B
    [[0.6666666865348816, 0.3333333432674408, 0.3333333432674408, 0.3333333432674408]]
    """

    name = "leaf_softmax"

    def __init__(self, taxonomy: Taxonomy, multi_positive: bool = True) -> None:
        super().__init__(taxonomy)
        check_tree(taxonomy, "leaf softmax")
        self.multi_positive = bool(multi_positive)

    @property
    def n_outputs(self) -> int:
        return len(self.taxonomy.leaves)

    def loss(self, logits, targets):
        self._check(logits, targets)
        if not self.multi_positive:
            check_single_path(targets, self.h, "leaf softmax")
        leaf_t = targets[:, self.h.leaves]
        leaf_t = leaf_t / leaf_t.sum(dim=1, keepdim=True).clamp_min(1)  # exactly t on one leaf
        return -(leaf_t * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()

    def marginals(self, logits):
        self._check(logits)
        return self.h.leaves_to_nodes(torch.softmax(logits, dim=1))
