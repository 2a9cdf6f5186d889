"""Verdicts with their power: is a paired difference REPRODUCED, REFUTED or INCONCLUSIVE?

For paired differences ``d_i = a_i − b_i`` over ``n`` seeds (mean ``d̄``, standard deviation ``s``),
with a stated effect size ``δ > 0`` that would matter:

- **REPRODUCED**: the 95% t-interval of ``d̄`` lies above 0 (a lies significantly above b);
- **REFUTED**: its upper end lies below ``δ``: an effect of ``δ`` or more is excluded at 95%;
- **INCONCLUSIVE** otherwise, with the number of seeds that would decide: the smallest ``n`` whose
  interval is narrower than ``δ`` (half-width ``t_{.975, n−1} · s / √n ≤ δ / 2``), which then cannot
  contain both 0 and ``δ``, whatever its centre.

The *minimum detectable difference* at 80% power of a two-sided 5% paired t-test is
``MDD = (t_{.975, n−1} + t_{.80, n−1}) · s / √n`` (the usual normal-theory approximation with t
quantiles; Cohen 1988, ch. 2): the true difference that ``n`` seeds would detect four times in five.

>>> round(min_detectable_difference(sd=1.0, n=10), 4)  # (2.2622 + 0.8834) / √10
0.9947
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

VERDICTS = ("REPRODUCED", "REFUTED", "INCONCLUSIVE")


def _check(sd: float, n: int) -> None:
    if not (isinstance(n, (int, np.integer)) and n >= 2):
        raise ValueError(f"n must be an int >= 2 (a t-interval needs two seeds), got {n!r}")
    if not (math.isfinite(sd) and sd >= 0):
        raise ValueError(f"sd must be a finite number >= 0, got {sd!r}")


def min_detectable_difference(sd: float, n: int, level: float = 0.05, power: float = 0.8) -> float:
    """``(t_{1−level/2, n−1} + t_{power, n−1}) · sd / √n`` (see the module doc)."""
    _check(sd, n)
    if not 0 < level < 1 or not 0 < power < 1:
        raise ValueError(f"level and power must be in (0, 1), got {level}, {power}")
    t = stats.t.ppf(1 - level / 2, n - 1) + stats.t.ppf(power, n - 1)
    return float(t * sd / math.sqrt(n))


def half_width(sd: float, n: int) -> float:
    """Half-width of the 95% t-interval of a mean of ``n`` values with standard deviation ``sd``.

    >>> round(half_width(1.0, 3), 3)
    2.484
    """
    _check(sd, n)
    return float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n))


def seeds_to_decide(sd: float, effect: float, max_seeds: int = 10_000) -> int | None:
    """The smallest number of seeds whose 95% interval is at most ``effect`` wide (None beyond ``max_seeds``).

    >>> seeds_to_decide(sd=0.05, effect=0.05)  # n = 10: 2.262·0.05/√10 = 0.0358 > 0.025; n = 18: 0.0249
    18
    """
    if not effect > 0:
        raise ValueError(f"effect must be > 0, got {effect}")
    if sd == 0:
        return 2
    n = 2
    while half_width(sd, n) > effect / 2:
        n += 1
        if n > max_seeds:
            return None
    return n


def judge(differences, effect: float) -> dict:
    """The verdict on paired differences (a − b per seed) against a stated effect size.

    Returns ``mean``, ``half`` (95% t half-width), ``low``/``high``, ``n``, ``sd``, ``verdict``, ``effect``,
    ``mdd`` (80% power) and ``seeds_to_decide``.

    >>> judge([0.03, 0.05, 0.04, 0.06], effect=0.02)["verdict"]
    'REPRODUCED'
    >>> judge([-0.01, 0.0, 0.01, 0.0, -0.005, 0.005], effect=0.03)["verdict"]
    'REFUTED'
    """
    if not effect > 0:
        raise ValueError(f"effect must be > 0, got {effect}")
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    n = int(d.size)
    out = {"n": n, "effect": float(effect)}
    if n < 2:
        return out | {"mean": float(d.mean()) if n else math.nan, "half": math.nan, "low": math.nan,
                      "high": math.nan, "sd": math.nan, "mdd": math.nan, "seeds_to_decide": None,
                      "verdict": "INCONCLUSIVE"}
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    h = half_width(sd, n)
    if mean - h > 0:
        verdict = "REPRODUCED"
    elif mean + h < effect:
        verdict = "REFUTED"
    else:
        verdict = "INCONCLUSIVE"
    return out | {"mean": mean, "half": h, "low": mean - h, "high": mean + h, "sd": sd,
                  "mdd": min_detectable_difference(sd, n), "seeds_to_decide": seeds_to_decide(sd, effect),
                  "verdict": verdict}


def power_sentence(j: dict, what: str = "difference") -> str:
    """One line that states a verdict with its power.

    >>> power_sentence(judge([0.01, -0.01, 0.02, 0.0], effect=0.02))[:40]
    'INCONCLUSIVE: difference +0.005 ± 0.021 '
    """
    if j["n"] < 2:
        return f"INCONCLUSIVE: {j['n']} seed(s), no interval"
    line = (f"{j['verdict']}: {what} {j['mean']:+.3f} ± {j['half']:.3f} (95% t, {j['n']} paired seeds); "
            f"stated effect δ = {j['effect']:.3f}; minimum detectable difference at 80% power "
            f"{j['mdd']:.3f}")
    if j["verdict"] == "INCONCLUSIVE":
        more = j["seeds_to_decide"]
        line += (f"; about {more} seeds would decide (interval narrower than δ)" if more
                 else "; no practical number of seeds would decide")
    return line
