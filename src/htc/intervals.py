"""Confidence intervals for results over seeds."""

from __future__ import annotations

import numpy as np

# a t-interval from 2 seeds (t = 12.7) spans the whole axis and says nothing: plots draw bands, error bars
# or intervals only from this many seeds on
MIN_SEEDS_FOR_BANDS = 3

# marker and line style of the i-th series of a plot, so lines that coincide (BCE and CHAMP) stay
# distinguishable and every legend entry visible
STYLES = (("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", (0, (5, 1))), ("P", (0, (3, 1, 1, 1))),
          ("X", (0, (8, 2))), ("*", (0, (1, 1))))


def style(i: int) -> dict:
    """Keyword arguments of ``ax.plot`` for the ``i``-th series."""
    marker, ls = STYLES[i % len(STYLES)]
    return {"marker": marker, "ls": ls}


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
