"""Calibrating the prioritized-KL weight ``w = J^β`` to a reference model (paper §4, Eq. 1–2).

The weight only *prioritizes* when the reference is near-certain on ordinary tokens (``w ≈ 1``,
the KL keeps its job) and uncertain on critical ones (``w ≪ 1``, exploration is free). Whether it
does depends on the model, the certainty measure, its temperature and β together: the paper's
β = 150 suits an 85M model whose certainty is "extremely high (except on critical tokens)" (§5.3);
with the official max-prob certainty at T = 4, a small model's weight is ≈ 0 on *every* token, and
"prioritized KL" is then no KL at all.

:func:`calibrate` measures the reference's certainty on teacher-forced gold scratchpads of RL
problems, split into critical positions (:func:`critkl.critical_positions`) and the rest, and for
each certainty kind and temperature sets β by one rule: a share ``1 − quantile`` of the non-critical
tokens keeps a weight of at least ``target`` (default: 90% keep w ≥ 0.5), i.e.

    β = ln(target) / ln(c_q),  c_q = the ``quantile``-quantile of the non-critical certainty.

The recommended setting (:func:`recommend`) is the one that leaves the lowest median weight on
critical tokens. A weight whose median on non-critical tokens is below
:data:`COLLAPSE_THRESHOLD` has *collapsed* (:func:`is_collapsed`); the RL and TRL trainers warn
at run time when that happens (:class:`WeightCollapseWarning`).

>>> import torch
>>> beta_for(torch.tensor([0.999, 0.998, 0.99]).numpy(), quantile=0.5, target=0.5)  # ln .5 / ln .998
350.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from .kl import CERTAINTY_KINDS, certainty

COLLAPSE_THRESHOLD = 0.5  # median w on non-critical tokens below this: the KL is mostly switched off
DEFAULT_TEMPERATURES = (1.0, 2.0, 4.0)


class WeightCollapseWarning(UserWarning):
    """The prioritized-KL weight is ≈ 0 on ordinary tokens: the run is effectively without KL."""


@dataclass(frozen=True)
class WeightStats:
    """Mean and quantiles of a set of weights (or certainties)."""

    mean: float
    p10: float
    p50: float
    p90: float
    n: int

    @classmethod
    def of(cls, x: np.ndarray) -> WeightStats:
        """The statistics of ``x`` (NaN, n = 0 when empty).

        >>> WeightStats.of(np.array([0.0, 0.5, 1.0])).p50
        0.5
        """
        x = np.asarray(x, dtype=float)
        if x.size == 0:
            return cls(math.nan, math.nan, math.nan, math.nan, 0)
        q = np.quantile(x, [0.1, 0.5, 0.9])
        return cls(float(x.mean()), float(q[0]), float(q[1]), float(q[2]), int(x.size))


@dataclass(frozen=True)
class Calibration:
    """One certainty setting, the β the rule gives it, and the weights that β implies."""

    kind: str
    temperature: float
    beta: float  # nan when the rule cannot be met (the certainty saturates at 1)
    critical: WeightStats  # w = c^β on critical positions
    other: WeightStats  # w on every other position
    certainty_critical: WeightStats
    certainty_other: WeightStats

    @property
    def usable(self) -> bool:
        return math.isfinite(self.beta) and self.beta > 0

    def overrides(self) -> dict:
        """The :class:`critkl.RLConfig` fields of this setting.

        >>> c = Calibration("max_prob", 1.0, 3600.0, *[WeightStats.of(np.ones(2))] * 4)
        >>> c.overrides()
        {'kl': 'prioritized', 'certainty': 'max_prob', 'certainty_temperature': 1.0, 'beta': 3600.0}
        """
        return {"kl": "prioritized", "certainty": self.kind, "certainty_temperature": self.temperature,
                "beta": self.beta}

    def as_dict(self) -> dict:
        return asdict(self)


def round_beta(beta: float) -> float:
    """β to two significant figures, so that a re-calibration on another machine gives the same value.

    >>> round_beta(401.3), round_beta(3578.8), round_beta(0.0432)
    (400.0, 3600.0, 0.043)
    """
    if not math.isfinite(beta) or beta <= 0:
        return beta
    digits = 1 - int(math.floor(math.log10(beta)))
    return float(round(beta, digits))


def beta_for(certainty_other: np.ndarray, quantile: float = 0.1, target: float = 0.5) -> float:
    """β such that the ``quantile``-quantile of the non-critical certainty gets weight ``target``.

    Returns nan when that quantile is exactly 1 (no β can lower the weight of such tokens, and the
    rule says nothing), rounded with :func:`round_beta` otherwise.
    """
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be in (0, 1), got {quantile}")
    if not 0 < target < 1:
        raise ValueError(f"target must be in (0, 1), got {target}")
    c = np.asarray(certainty_other, dtype=float)
    if c.size == 0:
        raise ValueError("certainty_other is empty: no non-critical token to calibrate on")
    cq = float(np.quantile(c, quantile, method="inverted_cdf"))  # an order statistic: no interpolation
    if cq >= 1.0:
        return math.nan
    if cq <= 0.0:
        return 0.0
    return round_beta(math.log(target) / math.log(cq))


def weights(certainties: np.ndarray, beta: float) -> np.ndarray:
    """``w = c^β`` (computed in log space, so large β stay exact).

    >>> weights(np.array([1.0, 0.5]), 2.0).tolist()
    [1.0, 0.25]
    """
    c = np.clip(np.asarray(certainties, dtype=float), 1e-300, 1.0)
    return np.exp(beta * np.log(c))


def is_collapsed(median_weight_other: float, threshold: float = COLLAPSE_THRESHOLD) -> bool:
    """True when the median weight on non-critical tokens is below ``threshold``.

    >>> is_collapsed(1.5e-15), is_collapsed(0.95), is_collapsed(float("nan"))
    (True, False, False)
    """
    return bool(median_weight_other < threshold)


def collapse_message(median_weight_other: float, kind: str, temperature: float, beta: float) -> str:
    """The warning text for a collapsed weight, with what to do about it."""
    return (f"prioritized KL weight has collapsed: median w on non-critical tokens is "
            f"{median_weight_other:.3g} < {COLLAPSE_THRESHOLD} (certainty {kind} at T={temperature:g}, "
            f"β={beta:g}), so the KL is off on most of the tokens sampled. From the first update on, this "
            "means β is too large for this model and the run is not a test of the prioritized KL: lower β, "
            "or run `critkl calibrate MODEL`. Appearing later, it means the policy has drifted to states "
            "the reference is unsure of")


@torch.no_grad()
def gold_certainties(lm, problems: Sequence, max_digits: int, kinds: Sequence[str] = CERTAINTY_KINDS,
                     temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
                     batch_size: int = 64) -> dict[tuple[str, float], tuple[np.ndarray, np.ndarray]]:
    """``{(kind, T): (certainty on critical positions, on the others)}`` along gold scratchpads.

    One reference forward per batch of problems; every kind and temperature reuses its logits.
    """
    from .rl.diagnostics import critical_step_mask
    from .rollout import gold_episodes, step_logits, trajectory_logits

    out: dict[tuple[str, float], tuple[list, list]] = {(k, float(t)): ([], []) for k in kinds
                                                        for t in temperatures}
    lm.eval()
    for i in range(0, len(problems), batch_size):
        ro = gold_episodes(problems[i : i + batch_size])
        logits = step_logits(trajectory_logits(lm, ro.ids, ro.attention_mask))
        mask = ro.action_mask
        crit = critical_step_mask(ro, max_digits) & mask
        other = mask & ~crit
        for (kind, t), (cs, os_) in out.items():
            c = certainty(logits, kind, t)
            cs.append(c[crit].double().numpy())
            os_.append(c[other].double().numpy())
    return {key: (np.concatenate(cs), np.concatenate(os_)) for key, (cs, os_) in out.items()}


def rl_problems(max_digits: int, digits: int, count: int, seed: int = 0) -> list:
    """``count`` RL problems of ``digits`` digits for a model pre-trained on 1..``max_digits`` (fixed by ``seed``)."""
    from .arithmetic import sample_rl

    if digits <= max_digits:
        raise ValueError(f"digits must exceed the pre-training length N={max_digits} (critical tokens are "
                         f"the digits beyond N), got {digits}")
    if count < 1:
        raise ValueError(f"problems must be >= 1, got {count}")
    rng = np.random.default_rng([seed, 11])
    return [sample_rl(max_digits, digits - max_digits, rng) for _ in range(count)]


def calibrate_table(table: dict[tuple[str, float], tuple[np.ndarray, np.ndarray]], quantile: float = 0.1,
                    target: float = 0.5) -> list[Calibration]:
    """One :class:`Calibration` per ``(kind, T)`` of a :func:`gold_certainties` table."""
    rows = []
    for (kind, t), (crit, other) in table.items():
        beta = beta_for(other, quantile, target)
        rows.append(at_beta(kind, t, beta, crit, other))
    return rows


def at_beta(kind: str, temperature: float, beta: float, crit: np.ndarray, other: np.ndarray) -> Calibration:
    """The weights a given β implies for certainties measured on critical and other tokens."""
    b = beta if math.isfinite(beta) else 0.0
    return Calibration(kind, float(temperature), beta, WeightStats.of(weights(crit, b)),
                       WeightStats.of(weights(other, b)), WeightStats.of(crit), WeightStats.of(other))


def calibrate(lm, max_digits: int | None = None, digits: int | None = None, problems: int = 256,
              kinds: Sequence[str] = CERTAINTY_KINDS, temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
              quantile: float = 0.1, target: float = 0.5, seed: int = 0) -> list[Calibration]:
    """Measure the reference ``lm``'s certainty on ``problems`` RL problems of ``digits`` digits
    (default N+1) and calibrate β for every certainty kind × temperature (rule in the module doc).

    >>> from critkl import load_pretrained
    >>> rows = calibrate(load_pretrained("tiny-n4")[0], problems=64)  # doctest: +SKIP
    >>> recommend(rows).overrides()  # doctest: +SKIP
    {'kl': 'prioritized', 'certainty': 'max_prob', 'certainty_temperature': 1.0, 'beta': 3600.0}
    """
    from .model import max_digits_of

    n = max_digits or max_digits_of(lm)
    sample = rl_problems(n, digits or n + 1, problems, seed)
    return calibrate_table(gold_certainties(lm, sample, n, kinds, temperatures), quantile, target)


def recommend(rows: Sequence[Calibration]) -> Calibration:
    """The usable setting with the lowest median weight on critical tokens (ties: the lower mean)."""
    usable = [r for r in rows if r.usable and r.critical.n > 0]
    if not usable:
        raise ValueError("no certainty setting can be calibrated: the reference is certain (c = 1) on "
                         "nearly every non-critical token at every temperature tried, or no critical "
                         "token was found; try higher temperatures")
    return min(usable, key=lambda r: (r.critical.p50, r.critical.mean))
