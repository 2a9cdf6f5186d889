"""Set-based hierarchical precision, recall and F-beta (Kiritchenko et al. 2005; Kosmopoulos et al. 2015).

For document ``i`` let ``T_i`` be the true label set and ``P_i`` the predicted set, both augmented with
all their ancestors (``Aug``), root excluded. Predictions need not be ancestor-closed: they are
closed here. With ``F_β(P, R) = (1+β²)·P·R / (β²·P + R)``:

- ``average="micro"`` (pooled counts, the paper's micro-hF):
  ``hP = Σ_i |P_i ∩ T_i| / Σ_i |P_i|``, ``hR = Σ_i |P_i ∩ T_i| / Σ_i |T_i|``, ``hF = F_β(hP, hR)``.
- ``average="samples"`` (mean over documents; hiclass calls it "macro"):
  ``hP = mean_i |P_i∩T_i|/|P_i|``, ``hR = mean_i |P_i∩T_i|/|T_i|``, ``hF = mean_i F_β(hP_i, hR_i)``.
- ``average="macro"`` (mean over nodes, on the augmented sets): for each node ``y`` present in the
  truth or the prediction of some document, ``P_y = TP_y/(TP_y+FP_y)``, ``R_y = TP_y/(TP_y+FN_y)``,
  ``F_y = F_β(P_y, R_y)``; returns the means of ``P_y``, ``R_y`` and ``F_y``.
- ``average="leaf"`` (the paper's macro-hF): documents are grouped by their most specific true
  label(s) ``g`` (true nodes without a true child; a multi-path document joins several groups);
  ``hP_g = Σ_{i∈g} |P_i∩T_i| / Σ_{i∈g} |P_i|``, ``hR_g = Σ_{i∈g} |P_i∩T_i| / Σ_{i∈g} |T_i|``;
  ``hP = mean_g hP_g``, ``hR = mean_g hR_g`` and ``hF = F_β(hP, hR)`` (F of the averaged P and R).
  ``group_weighting="documents"`` weights each group by its number of documents, which reproduces
  the official code's frequency-weighted mean.

``depth=d`` truncates both sets to nodes of depth ≤ d (top level = 1). For ``average="leaf"`` it
also keeps only the documents whose truth reaches depth ``d`` and groups them by their true node at
depth ``d``: the official code's "macro at depth d".

Zero denominators give ``zero_division`` (default 0), as in scikit-learn.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from htc.metrics.flat import counts_to_prf
from htc.metrics.validation import check_beta, check_pair, fbeta, safe_divide
from htc.taxonomy import Taxonomy

AVERAGES = ("micro", "samples", "macro", "leaf")


def augmented_pair(y_true, y_pred, taxonomy: Taxonomy) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Validated, ancestor-closed (truth, prediction) CSR matrices."""
    t, p = check_pair(y_true, y_pred, taxonomy)
    return taxonomy.closure(t), taxonomy.closure(p)


def closed_counts(y_true, y_pred, taxonomy: Taxonomy, keep: np.ndarray | None = None):
    """Per document ``(|Aug(T) ∩ Aug(P)|, |Aug(P)|, |Aug(T)|)``, inputs validated as by
    :func:`check_pair` (same errors); nodes outside the boolean mask ``keep`` do not count.

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> [c.tolist() for c in closed_counts([["A1"]], [["A2", "B"]], tax)]
    [[1], [3], [2]]
    """
    from htc.metrics.set_counts import closed_set_counts  # compiled: imported on first use

    return closed_set_counts(y_true, y_pred, taxonomy, keep)


def _truncate(m: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    out = m.multiply(keep[None, :].astype(np.int8)).tocsr()
    out.eliminate_zeros()
    return out


def hierarchical_precision_recall_fscore(
    y_true,
    y_pred,
    taxonomy: Taxonomy,
    *,
    beta: float = 1.0,
    average: str = "micro",
    depth: int | None = None,
    group_weighting: str = "groups",
    zero_division: float = 0.0,
) -> tuple[float, float, float]:
    """Hierarchical (hP, hR, hF-beta) of indicator matrices over ``taxonomy.nodes``.

    >>> from htc.taxonomy import Taxonomy
    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B", "B1"]])
    >>> # truth {A, A1}; prediction A2 alone (closed to {A, A2})
    >>> y_true = tax.indicator([["A1"]]); y_pred = tax.indicator([["A2"]], close=False)
    >>> hierarchical_precision_recall_fscore(y_true, y_pred, tax)
    (0.5, 0.5, 0.5)
    """
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    if group_weighting not in ("groups", "documents"):
        raise ValueError(f"group_weighting must be 'groups' or 'documents', got {group_weighting!r}")
    beta = check_beta(beta)
    if depth is not None and not 1 <= depth <= taxonomy.max_depth:
        raise ValueError(f"depth must be in 1..{taxonomy.max_depth}, got {depth}")
    if average in ("micro", "samples"):  # per-document set sizes suffice: one compiled pass
        tp, n_pred, n_true = closed_counts(y_true, y_pred, taxonomy,
                                           None if depth is None else taxonomy.depth <= depth)
        return counts_to_prf(tp, n_pred, n_true, beta, average, zero_division)
    t, p = augmented_pair(y_true, y_pred, taxonomy)
    if depth is not None:
        keep = taxonomy.depth <= depth
        t, p = _truncate(t, keep), _truncate(p, keep)
    inter = t.multiply(p).tocsr()
    if average == "macro":
        tp = np.asarray(inter.sum(axis=0)).ravel()
        n_pred = np.asarray(p.sum(axis=0)).ravel()
        n_true = np.asarray(t.sum(axis=0)).ravel()
        present = (n_pred + n_true) > 0
        return counts_to_prf(tp[present], n_pred[present], n_true[present], beta, "macro",
                             zero_division)
    groups = _leaf_groups(t, taxonomy, depth)
    return _grouped_prf(groups, inter, p, t, beta, group_weighting, zero_division)


def _leaf_groups(t: sp.csr_matrix, taxonomy: Taxonomy, depth: int | None) -> sp.csr_matrix:
    """Documents × nodes membership: the most specific true nodes (or true nodes at ``depth``)."""
    if depth is not None:
        return _truncate(t, taxonomy.depth == depth)
    has_true_child = (t.astype(np.int32) @ taxonomy.parent_matrix).tocsr()
    has_true_child.data[:] = 1
    ends = (t - t.multiply(has_true_child)).tocsr()
    ends.eliminate_zeros()
    return ends


def _grouped_prf(groups, inter, p, t, beta, group_weighting, zero_division):
    g = groups.T.tocsr().astype(np.float64)  # nodes × documents
    tp = g @ np.asarray(inter.sum(axis=1)).ravel()
    n_pred = g @ np.asarray(p.sum(axis=1)).ravel()
    n_true = g @ np.asarray(t.sum(axis=1)).ravel()
    size = np.asarray(g.sum(axis=1)).ravel()
    present = size > 0
    if not present.any():
        return float("nan"), float("nan"), float("nan")
    hp = safe_divide(tp[present], n_pred[present], zero_division)
    hr = safe_divide(tp[present], n_true[present], zero_division)
    w = size[present] if group_weighting == "documents" else np.ones(present.sum())
    mp, mr = float(np.average(hp, weights=w)), float(np.average(hr, weights=w))
    return mp, mr, float(fbeta(mp, mr, beta, zero_division))


def hierarchical_f1_score(
    y_true, y_pred, taxonomy: Taxonomy, *, average: str = "micro", depth: int | None = None
) -> float:
    """Hierarchical F1; see :func:`hierarchical_precision_recall_fscore` for the averages.

    >>> from htc.taxonomy import Taxonomy
    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B", "B1"]])
    >>> round(hierarchical_f1_score(tax.indicator([["A1"]]), tax.indicator([["A1", "B"]]), tax), 3)
    0.8
    """
    return hierarchical_precision_recall_fscore(
        y_true, y_pred, taxonomy, average=average, depth=depth
    )[2]


def hierarchical_scores_by_depth(
    y_true, y_pred, taxonomy: Taxonomy, *, beta: float = 1.0, zero_division: float = 0.0
) -> dict[int, tuple[float, float, float]]:
    """Level-wise micro (P, R, F) on the augmented sets, restricted to the nodes of each depth.

    ``{d: (P_d, R_d, F_d)}`` with ``P_d = Σ_i |P_i∩T_i∩L_d| / Σ_i |P_i∩L_d|`` for level ``L_d``.
    """
    beta = check_beta(beta)
    t, p = augmented_pair(y_true, y_pred, taxonomy)
    inter = t.multiply(p).tocsr()
    out = {}
    tp_col = np.asarray(inter.sum(axis=0)).ravel()
    pred_col = np.asarray(p.sum(axis=0)).ravel()
    true_col = np.asarray(t.sum(axis=0)).ravel()
    for d in range(1, taxonomy.max_depth + 1):
        m = taxonomy.depth == d
        prec = safe_divide(tp_col[m].sum(), pred_col[m].sum(), zero_division)
        rec = safe_divide(tp_col[m].sum(), true_col[m].sum(), zero_division)
        out[d] = (float(prec), float(rec), float(fbeta(prec, rec, beta, zero_division)))
    return out
