"""Conditional losses: each logit models a label given its parent.

- ``ConditionalSigmoidLoss``: ``P(y | π(y), x) = σ(s_y)``; negatives are only the nodes whose
  parent is positive (or top-level nodes):
  ``L = Σ_y −[t_y log σ(s_y) + (1−t_y)·m_y·log(1−σ(s_y))]``; marginals are the products along the
  path (``log p(y) = Σ_{z ∈ A⁺(y)} log σ(s_z)``). Trees, DAGs and multi-path targets.
- ``ConditionalSoftmaxLoss``: a softmax within each sibling group,
  ``log P̂(y | π(y)) = s_y − log Σ_{z ∈ C(π(y))} exp s_z``,
  ``L = −Σ_{y ∈ Y_x} w_y log P̂(y | π(y))`` with ``w_y = 1 / |Y_x ∩ C(π(y))|``; marginals are path
  products, so siblings sum to their parent. With ``tau > 0`` it is the paper's **logit-adjusted**
  conditional softmax: training uses ``s_y + τ log ν(y|π(y))`` with the prior
  ``ν(y|π(y)) = count(y) / Σ_{z ∈ C(π(y))} count(z)`` from training label counts (unseen labels
  count 1); marginals use the unadjusted logits. Trees only.

  Multi-path targets: ``w_y`` splits the target mass of each sibling group under a positive parent
  evenly over its positive children, the softmax cross-entropy with split targets used for
  multi-label softmax training (Mahajan et al. 2018, "Exploring the limits of weakly supervised
  pretraining"). A single-path document has one positive child per such group, so every
  ``w_y = 1`` and the loss is the paper's. The conditionals still sum to 1 within a group: a
  document with ``k`` true siblings is fitted at best with ``1/k`` on each. ``count`` in the prior
  is the same split mass. ``multi_positive=False`` refuses multi-path targets instead.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from htc.losses.base import HierarchicalLoss
from htc.losses.structure import (
    HierarchyTensors,
    check_single_path,
    check_tree,
    group_log_softmax,
    group_positive_counts,
)
from htc.taxonomy import Taxonomy


class ConditionalSigmoidLoss(HierarchicalLoss):
    """Per-node sigmoids read as conditionals of the parent (see module docstring).

    >>> from htc import Taxonomy
    >>> loss = ConditionalSigmoidLoss(Taxonomy.from_paths([["A", "A1"], ["B"]]))
    >>> loss.marginals(torch.zeros(1, 3)).tolist()  # A: .5, A1: .5·.5, B: .5
    [[0.5, 0.25, 0.5]]
    """

    name = "conditional_sigmoid"

    def loss(self, logits, targets):
        self._check(logits, targets)
        h = self.h
        # some parent is positive: (parent matrix @ targetsᵀ)ᵀ, sparse (one entry per edge)
        parent_pos = torch.sparse.mm(h.parent_sparse, targets.T.float()).T > 0
        mask = (h.top_level[None, :] | parent_pos).to(logits.dtype)
        pos = -targets * F.logsigmoid(logits)
        neg = -(1 - targets) * mask * F.logsigmoid(-logits)
        return (pos + neg).sum(dim=1).mean()

    def marginals(self, logits):
        self._check(logits)
        return torch.exp(self.h.sum_over_ancestors(F.logsigmoid(logits)))


def conditional_prior(taxonomy: Taxonomy, y_train) -> np.ndarray:
    """``ν(y|π(y))``: each label's training count over its sibling group's (unseen labels count 1).

    A multi-path document counts ``1/k`` for each of ``k`` positive siblings (the split target
    mass the loss fits), so single-path counts are plain counts.
    """
    y = sp.csr_matrix(y_train, dtype=np.float64).tocoo()
    y.sum_duplicates()
    y.data = (y.data > 0).astype(np.float64)
    h = HierarchyTensors(taxonomy)
    group = h.group.numpy()
    per_group = sp.csr_matrix((y.data, (y.row, group[y.col])), shape=(y.shape[0], h.n_groups))
    mass = y.data / np.asarray(per_group[y.row, group[y.col]]).ravel() if y.nnz else y.data
    counts = np.bincount(y.col, weights=mass, minlength=len(taxonomy))
    counts = np.where(counts > 0, counts, 1.0)
    prior = np.empty(len(taxonomy))
    groups = [taxonomy.root_children] + [taxonomy.children(i) for i in range(len(taxonomy))]
    for kids in groups:
        if len(kids):
            prior[kids] = counts[kids] / counts[kids].sum()
    return prior


class ConditionalSoftmaxLoss(HierarchicalLoss):
    """Sibling-group softmax; ``tau > 0`` with ``prior`` gives the logit-adjusted variant.

    ``multi_positive=True`` splits each group's target mass over its positive children (multi-path
    targets, see the module docstring); ``False`` refuses targets with two positive siblings.

    >>> from htc import Taxonomy
    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> ConditionalSoftmaxLoss(tax).marginals(torch.zeros(1, 4)).tolist()
    [[0.5, 0.25, 0.25, 0.5]]
    """

    name = "conditional_softmax"

    def __init__(self, taxonomy: Taxonomy, tau: float = 0.0, prior=None,
                 multi_positive: bool = True) -> None:
        super().__init__(taxonomy)
        check_tree(taxonomy, "conditional softmax")
        if tau < 0:
            raise ValueError(f"tau must be >= 0, got {tau}")
        if tau > 0 and prior is None:
            raise ValueError("the logit-adjusted loss (tau > 0) needs the prior ν: pass "
                             "prior=conditional_prior(taxonomy, y_train)")
        self.tau = float(tau)
        self.multi_positive = bool(multi_positive)
        adj = np.zeros(len(taxonomy)) if prior is None else self.tau * np.log(np.asarray(prior))
        self.register_buffer("adjustment", torch.tensor(adj, dtype=torch.float64))
        if tau > 0:
            self.name = "conditional_softmax_la"

    def cond_log_proba(self, logits: torch.Tensor) -> torch.Tensor:
        """``log P̂(y | π(y))`` for every node (unadjusted logits)."""
        return group_log_softmax(logits, self.h.group, self.h.n_groups)

    def loss(self, logits, targets):
        self._check(logits, targets)
        if self.multi_positive:  # 1 / (positive siblings); exactly 1 on single-path targets
            weights = targets / group_positive_counts(targets, self.h).clamp_min(1)
        else:
            check_single_path(targets, self.h, "conditional softmax")
            weights = targets
        adjusted = logits + self.adjustment.to(logits.dtype) if self.tau > 0 else logits
        return -(weights * group_log_softmax(adjusted, self.h.group, self.h.n_groups)).sum(1).mean()

    def marginals(self, logits):
        self._check(logits)
        return torch.exp(self.h.sum_over_ancestors(self.cond_log_proba(logits)))
