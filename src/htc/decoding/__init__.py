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

METHODS = ("threshold", "top_down", "greedy_leaf", "argmax_leaf", "optimal_hf")


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
    with ``p ≥ threshold``), ``"greedy_leaf"``, ``"argmax_leaf"`` or ``"optimal_hf"`` (exact
    expected-hF-``beta`` maximiser for single-path models).
    """
    if method not in METHODS:
        raise ValueError(f"unknown decoding method {method!r}; choose from {METHODS}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if method == "optimal_hf":  # validates inside its compiled kernel
        try:
            return decode_optimal_hf(node_proba, taxonomy, beta=beta)
        except ValueError as err:
            raise ValueError(str(err).replace("proba", "node_proba", 1)) from None
    p = as_proba(node_proba, taxonomy, "node_proba")
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
    "ThresholdSearch",
    "decode",
    "decode_argmax_leaf",
    "decode_greedy_leaf",
    "decode_optimal_hf",
    "decode_threshold",
    "decode_top_down",
    "end_node_distribution",
    "expected_hfbeta",
    "path_min",
    "top_down_curve",
    "tune_threshold",
]
