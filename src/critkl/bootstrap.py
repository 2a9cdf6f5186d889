"""Percentile bootstrap confidence intervals for means (paper App. A: "CI by resampling")."""

from __future__ import annotations

import numpy as np


def bootstrap_ci(values, level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean and its percentile bootstrap interval.

    >>> m, lo, hi = bootstrap_ci([1, 1, 0, 1])
    >>> m, 0 <= lo <= m <= hi <= 1
    (0.75, True)
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {x.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(x.mean()), float(lo), float(hi)


def half_width(low: float, high: float) -> float:
    """The ± of a table cell: half the interval's width."""
    return (high - low) / 2
