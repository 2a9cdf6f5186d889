"""Torch views of a taxonomy shared by the losses: sibling groups, ancestry, leaves, distances."""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.csgraph import shortest_path

from htc.taxonomy import Taxonomy


class HierarchyTensors:
    """Index tensors of a taxonomy for vectorised losses (build once, move with ``.to(device)``).

    - ``group``: (n,) sibling-group id of each node (0 = children of the root, g = children of the
      g-th internal node), so a softmax "within siblings" is a scatter over ``group``;
    - ``leaves``: (L,) leaf indices; ``top_level``: (n,) bool, children of the root;
    - sparse 0/1 matrices for products (a tree has n parent edges and about n·depth ancestor
      pairs, so dense (n, n) products would waste most of their work): ``parent_sparse[i, j] = 1``
      iff ``j`` is a parent of ``i``; ``ancestors_sparse[i, j] = 1`` iff ``j`` is ``i`` or above it;
      ``leaf_ancestors_t_sparse`` (n, L), used by :meth:`leaves_to_nodes`.
    """

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        n = len(taxonomy)
        group = np.zeros(n, dtype=np.int64)
        internal = [i for i in range(n) if len(taxonomy.children(i))]
        for g, u in enumerate(internal, start=1):
            group[taxonomy.children(u)] = g  # in a DAG the last parent wins; DAG users avoid groups
        self.n_groups = len(internal) + 1
        self.group = torch.from_numpy(group)
        self.leaves = torch.from_numpy(taxonomy.leaves.copy())
        top = np.zeros(n, dtype=bool)
        top[taxonomy.root_children] = True
        self.top_level = torch.from_numpy(top)
        self.parent_sparse = _sparse(taxonomy.parent_matrix)
        self.ancestors_sparse = _sparse(taxonomy.ancestor_matrix)
        self.leaf_ancestors_t_sparse = _sparse(taxonomy.ancestor_matrix[taxonomy.leaves].T)

    def sum_over_ancestors(self, x: torch.Tensor) -> torch.Tensor:
        """``out[:, i] = Σ_{j ancestor-or-self of i} x[:, j]`` (``x @ ancestors.T``, sparse)."""
        return torch.sparse.mm(self.ancestors_sparse, x.T.float()).T.to(x.dtype)

    def leaves_to_nodes(self, p_leaves: torch.Tensor) -> torch.Tensor:
        """``out[:, i] = Σ_{leaves l under or equal to i} p_leaves[:, l]`` (sparse)."""
        return torch.sparse.mm(self.leaf_ancestors_t_sparse, p_leaves.T.float()).T.to(p_leaves.dtype)

    def to(self, device) -> HierarchyTensors:
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        return self


def _sparse(matrix) -> torch.Tensor:
    m = matrix.tocoo()
    return torch.sparse_coo_tensor(np.vstack([m.row, m.col]), m.data.astype(np.float32), m.shape,
                                   check_invariants=True).coalesce()


def group_log_softmax(logits: torch.Tensor, group: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Log-softmax of each logit within its sibling group: ``s_y − log Σ_{z ∈ group(y)} exp s_z``."""
    idx = group.expand_as(logits)
    gmax = torch.full((logits.shape[0], n_groups), float("-inf"), device=logits.device,
                      dtype=logits.dtype)
    gmax = gmax.scatter_reduce(1, idx, logits.detach(), "amax", include_self=True)
    shifted = logits - gmax.gather(1, idx)
    gsum = torch.zeros_like(gmax).scatter_add(1, idx, shifted.exp())
    return shifted - gsum.clamp_min(1e-38).log().gather(1, idx)


def tree_distances(taxonomy: Taxonomy) -> np.ndarray:
    """All-pairs undirected hop distances between nodes, root included in the graph (one BFS pass
    per source inside SciPy's unweighted shortest paths). Shape (n, n), root row/column dropped."""
    import scipy.sparse as sp

    n = len(taxonomy)
    pm = taxonomy.parent_matrix.tocoo()
    rows = np.concatenate([pm.row, taxonomy.root_children])
    cols = np.concatenate([pm.col, np.full(len(taxonomy.root_children), n)])
    adj = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    dist = shortest_path(adj, directed=False, unweighted=True)
    return dist[:n, :n]


def check_tree(taxonomy: Taxonomy, loss_name: str) -> None:
    if not taxonomy.is_tree:
        raise ValueError(f"the {loss_name} loss needs a tree taxonomy (a node here has several "
                         "parents); use bce, conditional_sigmoid or champ for DAGs")


def group_positive_counts(targets: torch.Tensor, h: HierarchyTensors) -> torch.Tensor:
    """(B, n): for every node, the number of positive targets in its sibling group."""
    counts = torch.zeros(targets.shape[0], h.n_groups, device=targets.device,
                         dtype=targets.dtype).scatter_add(1, h.group.expand_as(targets), targets)
    return counts.gather(1, h.group.expand_as(targets))


def check_single_path(targets: torch.Tensor, h: HierarchyTensors, loss_name: str) -> None:
    """Refuse targets with two positive siblings (several paths), naming the batch row."""
    bad = (group_positive_counts(targets, h) > 1).any(dim=1)
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        raise ValueError(f"the {loss_name} loss was built for single-path targets; batch row {row} "
                         "has several labels under one parent (a multi-path document). Build it "
                         "with multi_positive=True to split the target mass over the positive "
                         "siblings, or give single-path targets")
