"""Confidence intervals for results over seeds."""

from __future__ import annotations

import numpy as np


def t_interval(values) -> tuple[float, float]:
    """Mean and 95% Student-t half-width over seeds (half-width 0 for a single value).

    >>> mean, half = t_interval([1.0, 2.0, 3.0])
    >>> mean, round(half, 3)
    (2.0, 2.484)
    """
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()), 0.0
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
