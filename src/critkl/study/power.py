"""Verdicts with their power: is a paired difference REPRODUCED, REFUTED or INCONCLUSIVE?

For paired differences ``d_i = a_i − b_i`` over ``n`` seeds (mean ``d̄``, standard deviation ``s``),
with a stated effect size ``δ > 0`` that would matter:

- **REPRODUCED**: the 95% t-interval of ``d̄`` lies above 0 (a lies significantly above b); the
  verdict also says whether the interval *clears* ``δ`` (lies above it: an effect of at least ``δ``)
  or not (``clears_effect``): an interval inside ``(0, δ)`` is a real effect smaller than ``δ``;
- **REFUTED**: the interval does not reach 0's side of it at all while excluding ``δ``: its upper
  end lies below ``δ`` and its lower end at or below 0, so an effect of ``δ`` or more is excluded
  at 95% and no effect is shown;
- **INCONCLUSIVE** otherwise, with the number of seeds that would decide: the smallest ``n`` whose
  interval is narrower than ``δ`` (half-width ``t_{.975, n−1} · s / √n ≤ δ / 2``), which then cannot
  contain both 0 and ``δ``, whatever its centre.

Several contrasts from one study are corrected together (:func:`holm`): each contrast's exact
sign-flip p-value (:func:`sign_flip_p`) is Holm-adjusted, and its interval is widened to the level
its Holm step uses (``1 − 0.05 / (k − rank + 1)``), so that a contrast is REPRODUCED only when its
corrected interval lies above 0.

A gain over a start model evaluated once and shared by every seed (:func:`gain_interval`) carries
that one evaluation's noise too: the half-width uses ``√(s²/n + σ²_start)``, where ``σ_start`` is
the start evaluation's own standard error (binomial for a sampled accuracy, 0 for an exact
teacher-forced probability).

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


def verdict_of(low: float, high: float, effect: float) -> tuple[str, bool]:
    """``(verdict, clears_effect)`` of an interval ``[low, high]`` against 0 and ``δ`` (module doc).

    >>> verdict_of(0.01, 0.03, 0.05), verdict_of(0.06, 0.09, 0.05)  # inside (0, δ); above δ
    (('REPRODUCED', False), ('REPRODUCED', True))
    >>> verdict_of(-0.02, 0.03, 0.05), verdict_of(-0.02, 0.08, 0.05)  # excludes δ; straddles both
    (('REFUTED', False), ('INCONCLUSIVE', False))
    """
    if not effect > 0:
        raise ValueError(f"effect must be > 0, got {effect}")
    if not low <= high:
        raise ValueError(f"low must be <= high, got [{low}, {high}]")
    if low > 0:
        return "REPRODUCED", bool(low >= effect)
    if high < effect:
        return "REFUTED", False
    return "INCONCLUSIVE", False


def judge(differences, effect: float, level: float = 0.95) -> dict:
    """The verdict on paired differences (a − b per seed) against a stated effect size.

    Returns ``mean``, ``half`` (t half-width at ``level``), ``low``/``high``, ``n``, ``sd``, ``verdict``,
    ``clears_effect``, ``effect``, ``level``, ``mdd`` (80% power) and ``seeds_to_decide``.

    >>> judge([0.03, 0.05, 0.04, 0.06], effect=0.02)["verdict"]
    'REPRODUCED'
    >>> judge([-0.01, 0.0, 0.01, 0.0, -0.005, 0.005], effect=0.03)["verdict"]
    'REFUTED'
    """
    if not effect > 0:
        raise ValueError(f"effect must be > 0, got {effect}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    n = int(d.size)
    out = {"n": n, "effect": float(effect), "level": float(level)}
    if n < 2:
        return out | {"mean": float(d.mean()) if n else math.nan, "half": math.nan, "low": math.nan,
                      "high": math.nan, "sd": math.nan, "mdd": math.nan, "seeds_to_decide": None,
                      "verdict": "INCONCLUSIVE", "clears_effect": False}
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    h = float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n))
    verdict, clears = verdict_of(mean - h, mean + h, effect)
    return out | {"mean": mean, "half": h, "low": mean - h, "high": mean + h, "sd": sd,
                  "mdd": min_detectable_difference(sd, n), "seeds_to_decide": seeds_to_decide(sd, effect),
                  "verdict": verdict, "clears_effect": clears}


def sign_flip_p(differences, max_exact: int = 20, samples: int = 200_000, seed: int = 0) -> float:
    """Two-sided p-value of the paired sign-flip (permutation) test of mean 0: the share of the
    ``2^n`` sign patterns whose ``|Σ ±d_i|`` reaches the observed ``|Σ d_i|``; exact up to
    ``max_exact`` seeds, else from ``samples`` random patterns (seeded).

    >>> sign_flip_p([1.0, 2.0, 3.0])  # only (+,+,+) and (−,−,−) reach |6|: 2 / 8
    0.25
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    n = d.size
    if n == 0:
        return 1.0
    observed = abs(d.sum()) - 1e-12 * max(1.0, float(np.abs(d).sum()))
    if n <= max_exact:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
    else:
        signs = np.random.default_rng(seed).choice([-1, 1], size=(samples, n))
    return float(np.mean(np.abs(signs @ d) >= observed))


def holm(contrasts: dict[str, list[float]], effect: float, level: float = 0.95) -> dict[str, dict]:
    """Holm-corrected verdicts of several paired contrasts (name → differences per seed).

    Each contrast gets its sign-flip p-value and the Holm-adjusted one (step-down, monotone). Its
    interval is taken at the level of its Holm step, ``1 − (1 − level) / (k − rank + 1)`` for the
    ``rank``-th smallest p-value, where the step-down stops at the first contrast it cannot reject:
    that contrast and every later one get the stopping step's level. A contrast is REPRODUCED only
    when its interval lies above 0 *and* its Holm p-value is at most ``1 − level``; an interval above
    0 that the corrected test does not back is INCONCLUSIVE.

    >>> a = [0.05, 0.06, 0.04, 0.05, 0.07, 0.05, 0.06, 0.04]
    >>> r = holm({"a": a, "b": [0.01, -0.02, 0.0, 0.02, -0.01, 0.0, 0.01, -0.01]}, 0.02)
    >>> r["a"]["verdict"], r["b"]["verdict"], round(r["a"]["level"], 3), round(r["b"]["level"], 3)
    ('REPRODUCED', 'REFUTED', 0.975, 0.95)
    >>> holm({"a": a[:6], "b": a[:6]}, 0.02)["a"]["verdict"]  # p = 2/64 each; Holm 0.0625: not backed
    'INCONCLUSIVE'
    """
    alpha = 1 - level
    names = list(contrasts)
    k = len(names)
    p = {name: sign_flip_p(contrasts[name]) for name in names}
    order = sorted(names, key=lambda name: p[name])
    out, running, stop = {}, 0.0, None
    for rank, name in enumerate(order, start=1):
        running = max(running, min(1.0, (k - rank + 1) * p[name]))
        if stop is None and running > alpha:
            stop = rank  # the step-down rejects nothing from here on
        step = rank if stop is None else stop
        j = judge(contrasts[name], effect, level=1 - alpha / (k - step + 1))
        if j["verdict"] == "REPRODUCED" and running > alpha:
            j = j | {"verdict": "INCONCLUSIVE", "clears_effect": False}
        out[name] = j | {"p": p[name], "p_holm": running, "holm_rank": rank, "contrasts": k}
    return {name: out[name] for name in names}


def gain_interval(ends, start: float, start_se: float = 0.0, level: float = 0.95) -> dict:
    """Mean gain ``end − start`` over seeds from one shared start evaluation, with an interval that
    includes that evaluation's standard error ``start_se``: half-width
    ``t · √(s²/n + start_se²)``, ``t`` at Welch–Satterthwaite degrees of freedom (the start term
    counted as known).

    >>> g = gain_interval([0.20, 0.22, 0.18, 0.21], start=0.117, start_se=0.02)
    >>> round(g["mean"], 4), g["half"] > gain_interval([0.20, 0.22, 0.18, 0.21], 0.117)["half"]
    (0.0855, True)
    """
    e = np.asarray(ends, dtype=float)
    e = e[np.isfinite(e)]
    n = e.size
    if not (math.isfinite(start_se) and start_se >= 0):
        raise ValueError(f"start_se must be a finite number >= 0, got {start_se!r}")
    if n < 2:
        return {"mean": float(e.mean() - start) if n else math.nan, "half": math.nan, "n": int(n),
                "start_se": float(start_se)}
    var_mean = float(e.var(ddof=1)) / n
    total = var_mean + start_se**2
    df = (n - 1) if var_mean == 0 or start_se == 0 else total**2 / (var_mean**2 / (n - 1))
    h = float(stats.t.ppf(0.5 + level / 2, df) * math.sqrt(total)) if total > 0 else 0.0
    return {"mean": float(e.mean() - start), "half": h, "low": float(e.mean() - start - h),
            "high": float(e.mean() - start + h), "n": int(n), "start_se": float(start_se)}


def binomial_se(p: float, n: int) -> float:
    """Standard error ``√(p(1−p)/n)`` of an accuracy measured on ``n`` independent samples.

    >>> round(binomial_se(0.117, 256), 4)
    0.0201
    """
    if not (0 <= p <= 1) or n < 1:
        raise ValueError(f"need p in [0, 1] and n >= 1, got {p}, {n}")
    return math.sqrt(p * (1 - p) / n)


def power_sentence(j: dict, what: str = "difference") -> str:
    """One line that states a verdict with its power.

    >>> power_sentence(judge([0.01, -0.01, 0.02, 0.0], effect=0.02))[:40]
    'INCONCLUSIVE: difference +0.005 ± 0.021 '
    """
    if j["n"] < 2:
        return f"INCONCLUSIVE: {j['n']} seed(s), no interval"
    level = j.get("level", 0.95)
    line = (f"{j['verdict']}: {what} {j['mean']:+.3f} ± {j['half']:.3f} ({100 * level:.4g}% t, {j['n']} "
            f"paired seeds); stated effect δ = {j['effect']:.3f}")
    if j["verdict"] == "REPRODUCED":
        line += (" (the interval clears δ)" if j.get("clears_effect") else
                 " (above 0 but not above δ: a real effect, possibly smaller than δ)")
    line += f"; minimum detectable difference at 80% power {j['mdd']:.3f}"
    if j["verdict"] == "INCONCLUSIVE":
        more = j["seeds_to_decide"]
        line += (f"; about {more} seeds would decide (interval narrower than δ)" if more
                 else "; no practical number of seeds would decide")
    return line
