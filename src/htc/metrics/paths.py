"""Path-constrained "C-metrics" (Yu et al. 2022; Ji et al. 2023; the paper's Appendix A).

A predicted node counts as a true positive only if it is true **and all its ancestors are predicted
too**; otherwise it is a false positive. With ``P_i`` the raw (not closed) prediction and ``T_i``
the ancestor-closed truth: ``TP = {(i, y) : y ∈ P_i ∩ T_i, A(y) ⊆ P_i}``, ``FP = |P_i| − TP``,
``FN = |T_i| − TP``, then flat micro (pooled) or macro (mean over all nodes) P, R, F-beta. For an
ancestor-closed prediction the C-metrics equal the flat metrics.
"""

from __future__ import annotations

import numpy as np

from htc.metrics.flat import counts_to_prf
from htc.metrics.validation import check_beta, check_pair
from htc.taxonomy import Taxonomy


def path_valid_mask(y_pred, taxonomy: Taxonomy):
    """CSR 0/1 matrix of the predicted nodes whose ancestors are all predicted."""
    p = y_pred.astype(np.int32)
    counts = (p @ taxonomy.ancestor_matrix.T).tocsr()  # ancestors-or-self of y found in P_i
    counts = counts.multiply(p).tocsr()  # only at predicted positions
    ok = counts.data == taxonomy.closure_sizes[counts.indices]
    valid = counts.copy()
    valid.data = ok.astype(np.int8)
    valid.eliminate_zeros()
    return valid


def c_precision_recall_fscore(
    y_true,
    y_pred,
    taxonomy: Taxonomy,
    *,
    beta: float = 1.0,
    average: str = "micro",
    zero_division: float = 0.0,
) -> tuple[float, float, float]:
    """Path-constrained (C-) precision, recall, F-beta; ``average`` is ``"micro"`` or ``"macro"``.

    >>> from htc.taxonomy import Taxonomy
    >>> tax = Taxonomy.from_paths([["A", "A1"], ["B"]])
    >>> # A1 predicted without its parent A: a false positive
    >>> c_precision_recall_fscore([[1, 1, 0]], [[0, 1, 0]], tax)
    (0.0, 0.0, 0.0)
    """
    if average not in ("micro", "macro"):
        raise ValueError(f"average must be 'micro' or 'macro', got {average!r}")
    beta = check_beta(beta)
    t, p = check_pair(y_true, y_pred, taxonomy)
    t = taxonomy.closure(t)
    tp_mat = path_valid_mask(p, taxonomy).multiply(t)
    axis = 0 if average == "macro" else 1
    tp = np.asarray(tp_mat.sum(axis=axis)).ravel()
    n_pred = np.asarray(p.sum(axis=axis)).ravel()
    n_true = np.asarray(t.sum(axis=axis)).ravel()
    return counts_to_prf(tp, n_pred, n_true, beta, average, zero_division)
