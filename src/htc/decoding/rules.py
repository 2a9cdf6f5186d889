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


def path_min(proba: np.ndarray, taxonomy: Taxonomy) -> np.ndarray:
    """``m(y) = min`` of ``proba`` over ``y`` and all its ancestors (top-down over levels)."""
    out = np.array(proba, dtype=np.float64, copy=True)
    for nodes in taxonomy.levels[1:]:
        pm = taxonomy.parent_matrix[nodes]
        counts = np.diff(pm.indptr)
        single = counts == 1
        if single.any():
            cols = nodes[single]
            out[:, cols] = np.minimum(out[:, cols], out[:, pm.indices[pm.indptr[:-1][single]]])
        for k in np.flatnonzero(counts > 1):  # DAG nodes: every parent
            parents = pm.indices[pm.indptr[k]:pm.indptr[k + 1]]
            out[:, nodes[k]] = np.minimum(out[:, nodes[k]], out[:, parents].min(axis=1))
    return out


def decode_top_down(proba: np.ndarray, taxonomy: Taxonomy, threshold: float = 0.5) -> np.ndarray:
    """Top-down thresholding: expand the children of every kept node with ``p ≥ t``.

    A node is kept iff it and all its ancestors pass (in a DAG, all parents must be kept), i.e.
    iff its path minimum ``m(y) ≥ t``; the output is ancestor-closed.

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["B"]])
    >>> decode_top_down(np.array([[0.4, 0.6, 0.7]]), tax).tolist()
    [[0, 0, 1]]
    """
    return (path_min(proba, taxonomy) >= threshold).astype(np.int8)


def top_down_curve(proba: np.ndarray, y_true, taxonomy: Taxonomy,
                   thresholds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Micro (hP, hR, hF1) of top-down decoding at every threshold at once.

    Top-down outputs are closed, so ``|P(t)| = #{m ≥ t}`` and ``TP(t) = #{m ≥ t on true nodes}``:
    two sorted arrays and ``searchsorted``, whatever the number of thresholds.
    """
    import scipy.sparse as sp

    m = path_min(proba, taxonomy)
    t = taxonomy.closure(sp.csr_matrix(y_true)).tocsr()
    rows = np.repeat(np.arange(t.shape[0]), np.diff(t.indptr))
    on_true = np.sort(m[rows, t.indices])
    everything = np.sort(m.ravel())
    th = np.asarray(thresholds, dtype=np.float64)
    n_pred = len(everything) - np.searchsorted(everything, th, side="left")
    tp = len(on_true) - np.searchsorted(on_true, th, side="left")
    prec = np.divide(tp, n_pred, out=np.zeros(len(th)), where=n_pred > 0)
    rec = tp / max(len(on_true), 1)
    f = np.divide(2 * prec * rec, prec + rec, out=np.zeros(len(th)), where=(prec + rec) > 0)
    return prec, rec, f


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
