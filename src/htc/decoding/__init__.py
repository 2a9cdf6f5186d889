"""Decoders: node marginals → 0/1 label matrices (NumPy/SciPy only).

>>> import numpy as np
>>> from htc.taxonomy import Taxonomy
>>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
>>> decode(np.array([[0.8, 0.5, 0.3, 0.2]]), tax, method="top_down").tolist()
[[1, 1, 0, 0]]
"""

from __future__ import annotations

import numpy as np

from htc.decoding.optimal import decode_optimal_hf, end_node_distribution, expected_hfbeta
from htc.decoding.optimal_multi import decode_optimal_hf_multi
from htc.decoding.path_model import (
    MAJORITY,
    MARGIN,
    MultiPathWarning,
    PathEvidence,
    multi_path_evidence,
    warn_if_multi_path,
)
from htc.decoding.rules import (
    decode_argmax_leaf,
    decode_greedy_leaf,
    decode_threshold,
    decode_top_down,
    path_min,
    top_down_curve,
)
from htc.decoding.tuning import METRICS, ThresholdSearch, tune_threshold
from htc.metrics.validation import as_proba
from htc.taxonomy import Taxonomy

METHODS = ("threshold", "top_down", "greedy_leaf", "argmax_leaf", "optimal_hf", "optimal_hf_multi",
           "optimal")


def decode(
    node_proba,
    taxonomy: Taxonomy,
    method: str = "top_down",
    *,
    threshold: float = 0.5,
    beta: float = 1.0,
) -> np.ndarray:
    """Decode node marginals ``(documents, len(taxonomy))`` into a 0/1 ``int8`` matrix.

    ``method``: ``"threshold"`` (``p ≥ threshold``), ``"top_down"`` (expand children of kept nodes
    with ``p ≥ threshold``), ``"greedy_leaf"``, ``"argmax_leaf"``, ``"optimal_hf"`` (exact
    expected-hF-``beta`` maximiser for single-path models; warns on marginals that are not),
    ``"optimal_hf_multi"`` (exact for tree-factorized multi-path models, trees only) or
    ``"optimal"`` (whichever of the two the marginals call for: :func:`multi_path_evidence`).

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> decode(np.array([[0.9, 0.8, 0.7, 0.2]]), tax, method="optimal").tolist()
    [[1, 1, 1, 0]]
    """
    if method not in METHODS:
        raise ValueError(f"unknown decoding method {method!r}; choose from {METHODS}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    p = as_proba(node_proba, taxonomy, "node_proba")
    if method == "optimal":
        method = resolve_optimal(p, taxonomy)["resolved"]
    elif method == "optimal_hf":
        warn_if_multi_path(p, taxonomy)
    if method == "optimal_hf":
        return decode_optimal_hf(p, taxonomy, beta=beta)
    if method == "optimal_hf_multi":
        return decode_optimal_hf_multi(p, taxonomy, beta=beta)
    if method == "threshold":
        return decode_threshold(p, taxonomy, threshold)
    if method == "top_down":
        return decode_top_down(p, taxonomy, threshold)
    if method == "greedy_leaf":
        return decode_greedy_leaf(p, taxonomy)
    return decode_argmax_leaf(p, taxonomy)


def resolve_optimal(node_proba, taxonomy: Taxonomy, *, split_loss: str | None = None) -> dict:
    """Which exact decoder ``method="optimal"`` runs on these marginals, and why.

    Returns ``{"requested": "optimal", "resolved": "optimal_hf" | "optimal_hf_multi", "reason":
    str, "multi_path_share": float}``, the share being that of documents whose sibling marginals
    exceed their parent's (:func:`multi_path_evidence`). ``split_loss``: the single-path loss a
    model was trained with on multi-path data, its target mass split over several paths; the
    reason then says that such marginals cannot express several paths (siblings share one unit of
    mass), so ``optimal`` cannot find them whatever the data.

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> resolve_optimal(np.array([[0.9, 0.8, 0.7, 0.2]]), tax)["resolved"]
    'optimal_hf_multi'
    """
    p = as_proba(node_proba, taxonomy, "node_proba")
    if not taxonomy.is_tree:
        return {"requested": "optimal", "resolved": "optimal_hf", "multi_path_share": None,
                "reason": "the taxonomy is a DAG, and optimal_hf_multi needs a tree"}
    evidence = multi_path_evidence(p, taxonomy)
    if evidence.multi_path:
        reason = f"multi-path marginals: {evidence.describe()}"
    else:
        reason = (f"single-path marginals: {evidence.share:.0%} of the documents (under "
                  f"{MAJORITY:.0%}) have sibling marginals summing above their parent's by more "
                  f"than {MARGIN}")
    if split_loss is not None:
        reason += (f"; the model was trained with the single-path {split_loss} loss on documents "
                   "with several paths (target mass split over them): its marginals cannot "
                   "express several paths (siblings share one unit of mass), so no decoder can "
                   "recover them; train conditional_sigmoid or bce for multi-path data")
    return {"requested": "optimal",
            "resolved": "optimal_hf_multi" if evidence.multi_path else "optimal_hf",
            "multi_path_share": evidence.share, "reason": reason}


__all__ = [
    "METHODS",
    "METRICS",
    "MultiPathWarning",
    "PathEvidence",
    "ThresholdSearch",
    "decode",
    "decode_argmax_leaf",
    "decode_greedy_leaf",
    "decode_optimal_hf",
    "decode_optimal_hf_multi",
    "decode_threshold",
    "decode_top_down",
    "end_node_distribution",
    "expected_hfbeta",
    "multi_path_evidence",
    "path_min",
    "resolve_optimal",
    "top_down_curve",
    "tune_threshold",
    "warn_if_multi_path",
]
