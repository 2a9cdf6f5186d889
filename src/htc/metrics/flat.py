"""Flat multi-label metrics on node indicators (what most HTC papers report).

Each node is an independent binary label; nothing is augmented with ancestors. With counts
``TP_j, FP_j, FN_j`` per node ``j`` (summed over documents):

- micro: ``P = ΣTP / (ΣTP + ΣFP)``, ``R = ΣTP / (ΣTP + ΣFN)``, ``F_β = (1+β²)PR / (β²P + R)``;
- macro: the mean over **all** nodes of the per-node ``P_j, R_j, F_j`` (scikit-learn's
  ``average="macro"``; a node never true nor predicted scores ``zero_division``);
- samples: the mean over documents of the per-document ``P_i, R_i, F_i``.
"""

from __future__ import annotations

import numpy as np

from htc.metrics.validation import check_pair, fbeta, safe_divide
from htc.taxonomy import Taxonomy

AVERAGES = ("micro", "macro", "samples")


def counts_to_prf(tp, n_pred, n_true, beta: float, average: str, zero_division: float):
    """(P, R, F) from true-positive, predicted and true counts (arrays for macro/samples)."""
    if average == "micro":
        p = safe_divide(np.sum(tp), np.sum(n_pred), zero_division)
        r = safe_divide(np.sum(tp), np.sum(n_true), zero_division)
        return float(p), float(r), float(fbeta(p, r, beta, zero_division))
    p = safe_divide(tp, n_pred, zero_division)
    r = safe_divide(tp, n_true, zero_division)
    f = fbeta(p, r, beta, zero_division)
    if np.size(p) == 0:
        return float("nan"), float("nan"), float("nan")
    return float(np.mean(p)), float(np.mean(r)), float(np.mean(f))


def flat_precision_recall_fscore(
    y_true,
    y_pred,
    taxonomy: Taxonomy | None = None,
    *,
    beta: float = 1.0,
    average: str = "micro",
    zero_division: float = 0.0,
) -> tuple[float, float, float]:
    """Flat precision, recall and F-beta on 0/1 node indicators.

    >>> flat_precision_recall_fscore([[1, 1, 0]], [[1, 0, 1]])
    (0.5, 0.5, 0.5)
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    t, p = check_pair(y_true, y_pred, taxonomy)
    inter = t.multiply(p)
    axis = 0 if average == "macro" else 1
    tp = np.asarray(inter.sum(axis=axis)).ravel()
    n_pred = np.asarray(p.sum(axis=axis)).ravel()
    n_true = np.asarray(t.sum(axis=axis)).ravel()
    return counts_to_prf(tp, n_pred, n_true, beta, average, zero_division)


def flat_f1_score(y_true, y_pred, taxonomy: Taxonomy | None = None, *, average: str = "micro") -> float:
    """Flat F1 (micro, macro or samples).

    >>> flat_f1_score([[1, 1, 0]], [[1, 1, 0]], average="macro")
    0.6666666666666666
    """
    return flat_precision_recall_fscore(y_true, y_pred, taxonomy, average=average)[2]


def hamming_loss(y_true, y_pred, taxonomy: Taxonomy | None = None) -> float:
    """Fraction of wrong node bits: ``Σ_i |T_i Δ P_i| / (documents × nodes)``.

    >>> hamming_loss([[1, 0, 0, 1]], [[1, 1, 0, 0]])
    0.5
    """
    t, p = check_pair(y_true, y_pred, taxonomy)
    if t.shape[1] == 0:
        raise ValueError("y_true has no columns (nodes)")
    wrong = (t != p).nnz
    return wrong / (t.shape[0] * t.shape[1])
