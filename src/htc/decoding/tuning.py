"""Choosing a decoding threshold on development data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from htc.metrics.flat import flat_precision_recall_fscore
from htc.metrics.hierarchical import hierarchical_precision_recall_fscore
from htc.metrics.paths import c_precision_recall_fscore
from htc.metrics.validation import as_indicator, as_proba
from htc.taxonomy import Taxonomy

MetricFn = Callable[[object, np.ndarray, Taxonomy], float]

METRICS: dict[str, MetricFn] = {
    "h_micro_f": lambda t, p, tax: hierarchical_precision_recall_fscore(t, p, tax)[2],
    "h_samples_f": lambda t, p, tax: hierarchical_precision_recall_fscore(
        t, p, tax, average="samples")[2],
    "h_macro_f": lambda t, p, tax: hierarchical_precision_recall_fscore(
        t, p, tax, average="macro")[2],
    "h_leaf_f": lambda t, p, tax: hierarchical_precision_recall_fscore(
        t, p, tax, average="leaf")[2],
    "flat_micro_f": lambda t, p, tax: flat_precision_recall_fscore(t, p, tax)[2],
    "flat_macro_f": lambda t, p, tax: flat_precision_recall_fscore(t, p, tax, average="macro")[2],
    "c_micro_f": lambda t, p, tax: c_precision_recall_fscore(t, p, tax)[2],
    "c_macro_f": lambda t, p, tax: c_precision_recall_fscore(t, p, tax, average="macro")[2],
}


@dataclass
class ThresholdSearch:
    """Best threshold and score, with the whole curve (``thresholds``, ``scores``)."""

    threshold: float
    score: float
    thresholds: np.ndarray
    scores: np.ndarray


def tune_threshold(
    proba,
    y_true,
    taxonomy: Taxonomy,
    *,
    metric: str | MetricFn = "h_micro_f",
    method: str = "top_down",
    thresholds: Sequence[float] | None = None,
) -> ThresholdSearch:
    """Grid-search the decoding threshold that maximises ``metric`` on ``(proba, y_true)``.

    ``metric`` is a name from :data:`METRICS` or a callable ``f(y_true, y_pred, taxonomy)``;
    ``method`` is ``"top_down"`` or ``"threshold"``. Ties go to the threshold closest to 0.5.

    >>> from htc.datasets import make_synthetic, sample_marginals
    >>> tax, y = make_synthetic(200, depth=3, branching=3, seed=0)
    >>> res = tune_threshold(sample_marginals(tax, y, seed=0), y, tax)
    >>> bool(0 < res.threshold < 1 and res.score >= res.scores.min())
    True
    """
    from htc.decoding import decode

    if method not in ("top_down", "threshold"):
        raise ValueError(f"method must be 'top_down' or 'threshold', got {method!r}")
    fn = METRICS.get(metric) if isinstance(metric, str) else metric
    if fn is None:
        raise ValueError(f"unknown metric {metric!r}; choose from {sorted(METRICS)} or a callable")
    p = as_proba(proba, taxonomy)
    t = as_indicator(y_true, "y_true", len(taxonomy))
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"y_true has {t.shape[0]} rows but proba has {p.shape[0]}")
    grid = np.asarray(np.round(np.arange(0.02, 0.99, 0.02), 2) if thresholds is None
                      else thresholds, dtype=np.float64)
    if grid.ndim != 1 or len(grid) == 0 or grid.min() < 0 or grid.max() > 1:
        raise ValueError("thresholds must be a non-empty 1-D sequence of values in [0, 1]")
    if metric == "h_micro_f" and method == "top_down":  # all thresholds in one pass
        from htc.decoding.rules import top_down_curve

        scores = top_down_curve(p, t, taxonomy, grid)[2]
    else:
        scores = np.array([fn(t, decode(p, taxonomy, method=method, threshold=float(th)), taxonomy)
                           for th in grid])
    best = np.flatnonzero(scores == scores.max())
    i = best[np.argmin(np.abs(grid[best] - 0.5))]
    return ThresholdSearch(float(grid[i]), float(scores[i]), grid, scores)


def selection_score(proba, y_true, taxonomy: Taxonomy, decoder: str, *, beta: float = 1.0) -> float:
    """Model-selection score of dev marginals: per-document hF1 under ``decoder``.

    Per-document hF1 is what the optimal decoders maximise in expectation (Plaud et al. 2024,
    §3.3, Eq. 5); the ``threshold`` and ``top_down`` decoders are scored at the threshold best on
    these documents (:func:`tune_threshold`), so that a fixed threshold the model's marginals never
    reach (a softmax split over several positive children keeps each under 0.5) cannot rank epochs.

    >>> from htc.datasets import make_synthetic, sample_marginals
    >>> tax, y = make_synthetic(100, depth=2, branching=3, seed=0)
    >>> p = sample_marginals(tax, y, seed=0) * 0.4  # no marginal reaches 0.5
    >>> selection_score(p, y, tax, "top_down") > 0.5
    True
    """
    from htc.decoding import decode

    if decoder in ("threshold", "top_down"):
        return tune_threshold(proba, y_true, taxonomy, metric="h_samples_f", method=decoder).score
    y_pred = decode(proba, taxonomy, decoder, beta=beta)
    return float(METRICS["h_samples_f"](y_true, y_pred, taxonomy))
