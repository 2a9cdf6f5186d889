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
        multi = taxonomy.is_tree and multi_path_evidence(p, taxonomy).multi_path
        method = "optimal_hf_multi" if multi else "optimal_hf"
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
    "top_down_curve",
    "tune_threshold",
    "warn_if_multi_path",
]
