"""Threshold-free hierarchical ranking metric: the per-document hierarchical PR-AUC ("hF1-AUC").

For each document, sweep a threshold ``τ`` down over its node scores; at each ``τ`` the prediction is
``Aug({y : p_y ≥ τ})`` (ancestor-closed when ``augment=True``), scored by precision and recall
against the closed truth. The curve starts at ``(R, P) = (0, 1)``; equal scores enter together.
The area under ``P(R)`` by the trapezoidal rule is averaged over documents with a non-empty truth.

Closing ``{y : p_y ≥ τ}`` under ancestors equals thresholding ``p̃_y = max_{d ⪯ y} p_d`` (the best
score in ``y``'s subtree), so the whole computation is one sort per document, vectorised over the
batch. ``augment=False`` reproduces the official code, which does not close its predictions.
"""

from __future__ import annotations

import numpy as np

from htc.metrics.validation import as_indicator, as_proba, check_documents
from htc.taxonomy import Taxonomy


def subtree_max(proba: np.ndarray, taxonomy: Taxonomy) -> np.ndarray:
    """``p̃_y = max`` of ``proba`` over ``y`` and its descendants (bottom-up over levels)."""
    out = proba.copy()
    # deepest level first: each node, already holding its subtree's max, passes it to its parents
    for nodes in taxonomy.levels[:0:-1]:
        pm = taxonomy.parent_matrix[nodes].tocoo()
        if pm.nnz:
            child = nodes[pm.row]
            np.maximum.at(out.T, pm.col, out.T[child])
    return out


def hierarchical_pr_auc(
    y_true,
    proba,
    taxonomy: Taxonomy,
    *,
    augment: bool = True,
    per_document: bool = False,
):
    """Mean per-document area under the hierarchical precision-recall curve.

    >>> from htc.taxonomy import Taxonomy
    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> round(hierarchical_pr_auc([[1, 1, 0, 0]], [[0.9, 0.8, 0.1, 0.2]], tax), 3)
    1.0
    """
    t = taxonomy.closure(as_indicator(y_true, "y_true", taxonomy=taxonomy)).toarray().astype(bool)
    check_documents(t, "y_true")
    p = as_proba(proba, taxonomy)
    if p.shape[0] != t.shape[0]:
        raise ValueError(f"y_true has {t.shape[0]} rows but proba has {p.shape[0]}")
    if augment:
        p = subtree_max(p, taxonomy)
    order = np.argsort(-p, axis=1, kind="stable")
    s = np.take_along_axis(p, order, axis=1)
    hit = np.take_along_axis(t, order, axis=1)
    n_true = t.sum(axis=1)
    tp = np.cumsum(hit, axis=1)
    k = np.arange(1, p.shape[1] + 1)[None, :]
    # a point is emitted only at the end of a run of equal scores
    end = np.ones_like(s, dtype=bool)
    end[:, :-1] = s[:, :-1] != s[:, 1:]
    prec = tp / k
    rec = tp / np.maximum(n_true, 1)[:, None]
    # previous emitted point for each emitted point: (0, 1) at the start
    idx = np.where(end, np.arange(p.shape[1])[None, :], -1)
    prev_idx = np.maximum.accumulate(np.concatenate([np.full((len(p), 1), -1), idx[:, :-1]], 1), 1)
    rows = np.arange(len(p))[:, None]
    prev_p = np.where(prev_idx >= 0, prec[rows, np.maximum(prev_idx, 0)], 1.0)
    prev_r = np.where(prev_idx >= 0, rec[rows, np.maximum(prev_idx, 0)], 0.0)
    area = np.where(end, (rec - prev_r) * (prec + prev_p) / 2.0, 0.0).sum(axis=1)
    valid = n_true > 0
    if per_document:
        return np.where(valid, area, np.nan)
    return float(area[valid].mean()) if valid.any() else float("nan")
