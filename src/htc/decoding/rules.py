"""Rule-based decoders: node marginals → 0/1 label matrix.

- ``threshold``: ``ŷ_y = [p_y ≥ t]`` independently (can be inconsistent).
- ``top_down``: from the root, keep every child with ``p ≥ t`` of a kept node (the root is always
  kept; in a DAG a node needs all its parents kept); ancestor-closed, several branches allowed;
  equals ``threshold`` for consistent marginals on a tree.
- ``greedy_leaf``: from the root, move to the most probable child until a leaf (one full path).
- ``argmax_leaf``: the most probable leaf and its ancestors (for single-path models, the most probable
  root-to-leaf path, which may differ from the greedy one).
"""

from __future__ import annotations

import numpy as np

from htc.taxonomy import Taxonomy


def decode_threshold(proba: np.ndarray, taxonomy: Taxonomy, threshold: float = 0.5) -> np.ndarray:
    """Independent thresholding ``p ≥ t``.

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["B"]])
    >>> decode_threshold(np.array([[0.4, 0.6, 0.1]]), tax).tolist()
    [[0, 1, 0]]
    """
    return (proba >= threshold).astype(np.int8)


def decode_top_down(proba: np.ndarray, taxonomy: Taxonomy, threshold: float = 0.5) -> np.ndarray:
    """Top-down thresholding: expand the children of every kept node with ``p ≥ t``.

    In a DAG a node is kept only when all its parents are, so the output is ancestor-closed.

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["B"]])
    >>> decode_top_down(np.array([[0.4, 0.6, 0.7]]), tax).tolist()
    [[0, 0, 1]]
    """
    passed = proba >= threshold
    sel = np.zeros(proba.shape, dtype=np.int8)
    n_parents = np.diff(taxonomy.parent_matrix.indptr)
    for nodes in taxonomy.levels:
        pm = taxonomy.parent_matrix[nodes]  # level nodes × all nodes
        parents_kept = np.asarray(pm @ sel.T.astype(np.int32)).T
        sel[:, nodes] = passed[:, nodes] & (parents_kept == n_parents[nodes][None, :])
    return sel


def _children_table(taxonomy: Taxonomy) -> np.ndarray:
    """``(n+1, max_branching)`` child indices; row ``n`` is the root; padding is ``n``."""
    n = len(taxonomy)
    kids = [taxonomy.children(i) for i in range(n)] + [taxonomy.root_children]
    width = max(1, max(len(k) for k in kids))
    table = np.full((n + 1, width), n, dtype=np.int64)
    for i, k in enumerate(kids):
        table[i, : len(k)] = k
    return table


def decode_greedy_leaf(proba: np.ndarray, taxonomy: Taxonomy) -> np.ndarray:
    """Follow the most probable child from the root down to a leaf (first child on ties).

    The followed path is returned ancestor-closed (in a DAG, a node's other parents are added).

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> decode_greedy_leaf(np.array([[0.6, 0.1, 0.5, 0.4]]), tax).tolist()
    [[1, 0, 1, 0]]
    """
    n = len(taxonomy)
    table = _children_table(taxonomy)
    ext = np.concatenate([proba, np.full((len(proba), 1), -np.inf)], axis=1)
    cur = np.full(len(proba), n, dtype=np.int64)
    rows = np.arange(len(proba))
    sel = np.zeros(proba.shape, dtype=np.int8)
    for _ in range(taxonomy.max_depth):
        cand = table[cur]
        active = cand[:, 0] != n
        if not active.any():
            break
        best = cand[rows, np.argmax(ext[rows[:, None], cand], axis=1)]
        cur = np.where(active, best, cur)
        sel[rows[active], best[active]] = 1
    return np.asarray(taxonomy.closure(sel), dtype=np.int8)


def decode_argmax_leaf(proba: np.ndarray, taxonomy: Taxonomy) -> np.ndarray:
    """The most probable leaf with all its ancestors (first leaf on ties).

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> decode_argmax_leaf(np.array([[0.6, 0.1, 0.5, 0.4]]), tax).tolist()
    [[1, 0, 1, 0]]
    """
    leaves = taxonomy.leaves
    best = leaves[np.argmax(proba[:, leaves], axis=1)]
    return taxonomy.ancestor_matrix[best].toarray().astype(np.int8)
