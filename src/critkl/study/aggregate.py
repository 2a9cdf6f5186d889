"""Curves over seeds: mean and 95% t-interval per evaluation point, and paired arm comparisons."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

HELDOUT = "heldout_acc_sampled"
CRITICAL_PREFIX = "p_critical/"


def read_log(folder: Path, evaluations_only: bool = True) -> list[dict]:
    """The evaluation records of one run (records that carry a held-out accuracy), or all its records."""
    path = Path(folder) / "log.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run log missing (was the run started?)")
    out = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{i}: not JSON ({e.msg})") from None
        if HELDOUT in rec or not evaluations_only:
            out.append(rec)
    return out


def t_half_width(values) -> float:
    """Half-width of the 95% t-interval of the mean (0 with fewer than 2 values).

    >>> round(t_half_width([1.0, 2.0, 3.0]), 3)
    2.484
    """
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return 0.0
    return float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def curve(logs: list[list[dict]], key: str) -> dict:
    """Mean ± 95% t-interval of ``key`` over seeds at each evaluation point (episodes).

    Points missing from a seed (a shorter run, or a key absent there) are left out of that
    point's statistics; ``n`` says how many seeds each point has.
    """
    by_ep: dict[int, list[float]] = {}
    for log in logs:
        for rec in log:
            v = rec.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v):
                by_ep.setdefault(int(rec["episodes"]), []).append(float(v))
    eps = sorted(by_ep)
    return {"episodes": eps, "mean": [float(np.mean(by_ep[e])) for e in eps],
            "half": [t_half_width(by_ep[e]) for e in eps], "n": [len(by_ep[e]) for e in eps]}


def run_summary(log: list[dict], key: str = HELDOUT, last: int = 3) -> dict:
    """Start value, mean of the last ``last`` evaluations, and mean over all evaluations after start."""
    vals = [r[key] for r in log if key in r]
    if not vals:
        return {"start": float("nan"), "end": float("nan"), "auc": float("nan")}
    return {"start": float(vals[0]), "end": float(np.mean(vals[-last:])),
            "auc": float(np.mean(vals[1:])) if len(vals) > 1 else float(vals[0])}


def paired(a: list[float], b: list[float]) -> dict:
    """Mean difference a − b over paired seeds with its 95% t-interval and a verdict."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return {"mean": float("nan"), "half": float("nan"), "n": 0, "verdict": "no data"}
    m, h = float(d.mean()), t_half_width(d)
    if len(d) < 2:
        verdict = "one seed: no interval"
    else:
        verdict = "higher" if m - h > 0 else ("lower" if m + h < 0 else "not significantly different")
    return {"mean": m, "half": h, "n": int(len(d)), "verdict": verdict}


def unpaired(a: list[float], b: list[float]) -> dict:
    """Difference of means a − b between two independent groups (different start models), with
    Welch's 95% interval and a verdict; same keys as :func:`paired`.

    >>> d = unpaired([0.5, 0.6, 0.7], [0.1, 0.2, 0.3])
    >>> round(d["mean"], 3), d["verdict"]
    (0.4, 'higher')
    """
    from scipy import stats

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if len(x) == 0 or len(y) == 0:
        return {"mean": float("nan"), "half": float("nan"), "n": 0, "verdict": "no data"}
    m = float(x.mean() - y.mean())
    n = int(min(len(x), len(y)))
    if n < 2:
        return {"mean": m, "half": float("nan"), "n": n, "verdict": "one seed: no interval"}
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(vx + vy)
    if se == 0.0:
        h = 0.0
    else:
        dof = (vx + vy) ** 2 / (vx ** 2 / (len(x) - 1) + vy ** 2 / (len(y) - 1))
        h = float(stats.t.ppf(0.975, dof) * se)
    verdict = "higher" if m - h > 0 else ("lower" if m + h < 0 else "not significantly different")
    return {"mean": m, "half": h, "n": n, "verdict": verdict}


def critical_keys(logs: list[list[dict]]) -> list[str]:
    """The ``p_critical/...`` keys present in any record (sorted)."""
    return sorted({k for log in logs for rec in log for k in rec if k.startswith(CRITICAL_PREFIX)})
