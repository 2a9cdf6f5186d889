"""Every metric at once, as a flat ``{name: value}`` dict."""

from __future__ import annotations

from htc.metrics.flat import flat_precision_recall_fscore, hamming_loss
from htc.metrics.hierarchical import (
    hierarchical_precision_recall_fscore,
    hierarchical_scores_by_depth,
)
from htc.metrics.lca import lca_precision_recall_fscore
from htc.metrics.paths import c_precision_recall_fscore
from htc.metrics.ranking import hierarchical_pr_auc
from htc.taxonomy import Taxonomy


def report(
    y_true,
    y_pred=None,
    proba=None,
    *,
    taxonomy: Taxonomy,
    beta: float = 1.0,
    by_depth: bool = True,
    lca: bool = True,
) -> dict[str, float]:
    """All metrics of ``y_pred`` (and ``hF1_auc`` when ``proba`` is given).

    Keys: ``flat_micro_{p,r,f}``, ``flat_macro_{p,r,f}``, ``hamming_loss``,
    ``h_{micro,samples,macro,leaf}_{p,r,f}``, ``h_leaf_docweighted_{p,r,f}``,
    ``c_{micro,macro}_{p,r,f}``, ``lca_micro_{p,r,f}``, ``depth{d}_{p,r,f}`` and ``hF1_auc``.

    >>> from htc.taxonomy import Taxonomy
    >>> tax = Taxonomy.from_paths([["A", "A1"], ["B"]])
    >>> round(report([[1, 1, 0]], [[1, 0, 0]], taxonomy=tax)["h_micro_f"], 3)
    0.667
    """
    if y_pred is None and proba is None:
        raise ValueError("report needs y_pred, proba, or both")
    out: dict[str, float] = {}

    def put(prefix, prf):
        for k, v in zip("prf", prf):
            out[f"{prefix}_{k}"] = float(v)

    if y_pred is not None:
        for avg in ("micro", "macro"):
            put(f"flat_{avg}", flat_precision_recall_fscore(y_true, y_pred, taxonomy, beta=beta,
                                                            average=avg))
        out["hamming_loss"] = hamming_loss(y_true, y_pred, taxonomy)
        for avg in ("micro", "samples", "macro", "leaf"):
            put(f"h_{avg}", hierarchical_precision_recall_fscore(y_true, y_pred, taxonomy,
                                                                 beta=beta, average=avg))
        put("h_leaf_docweighted", hierarchical_precision_recall_fscore(
            y_true, y_pred, taxonomy, beta=beta, average="leaf", group_weighting="documents"))
        for avg in ("micro", "macro"):
            put(f"c_{avg}", c_precision_recall_fscore(y_true, y_pred, taxonomy, beta=beta,
                                                      average=avg))
        if lca:
            put("lca_micro", lca_precision_recall_fscore(y_true, y_pred, taxonomy, beta=beta))
        if by_depth:
            for d, prf in hierarchical_scores_by_depth(y_true, y_pred, taxonomy,
                                                       beta=beta).items():
                put(f"depth{d}", prf)
    if proba is not None:
        out["hF1_auc"] = hierarchical_pr_auc(y_true, proba, taxonomy)
    return out
