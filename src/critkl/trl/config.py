"""``PrioritizedGRPOConfig``: TRL's ``GRPOConfig`` plus the prioritized-KL weight's settings.

Parameter mapping (paper, Vassoyan et al. 2025 ↔ this config):

- paper α (KL coefficient)      ↔ TRL's ``beta`` (unchanged meaning: ``loss += beta · w · KL``);
- paper β (certainty exponent)  ↔ ``kl_weight_beta``;
- official ``(1 − b)·c^β + b``  ↔ ``kl_weight_slope = 1 − b``, ``kl_weight_intercept = b``;
- certainty J (Eq. 2) / c (official max-prob) ↔ ``certainty_kind`` ``"shannon"`` / ``"max_prob"``
  at ``certainty_temperature`` (official code: ``"max_prob"`` at 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from trl import GRPOConfig

from ..kl import CERTAINTY_KINDS


def _finite_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass
class PrioritizedGRPOConfig(GRPOConfig):
    """``GRPOConfig`` with the prioritized-KL weight ``w = kl_weight_slope · J^kl_weight_beta + kl_weight_intercept``.

    TRL's ``beta`` stays the KL coefficient (the paper's α); it must be > 0 for any KL (and any weight)
    to be used. ``slope = 0, intercept = 1`` gives ``w ≡ 1``: TRL's own GRPO loss.

    >>> cfg = PrioritizedGRPOConfig(output_dir="runs/x", beta=0.04, kl_weight_beta=150,
    ...                             certainty_kind="max_prob", certainty_temperature=4.0)  # doctest: +SKIP
    """

    certainty_kind: str = field(
        default="shannon",
        metadata={"help": "Reference certainty J: 'shannon' (normalized negentropy, paper Eq. 2) or "
                          "'max_prob' (1 + log max p / log|V|, official code)."},
    )
    certainty_temperature: float = field(
        default=1.0,
        metadata={"help": "Temperature of the reference distribution the certainty is computed on "
                          "(official code: 4 with 'max_prob'). Independent of the sampling `temperature`."},
    )
    kl_weight_beta: float = field(
        default=150.0,
        metadata={"help": "Exponent β of the prioritized weight J^β (paper β; not TRL's `beta`, which is "
                          "the KL coefficient, the paper's α). 0 with slope 1, intercept 0 gives w ≡ 1."},
    )
    kl_weight_slope: float = field(
        default=1.0, metadata={"help": "Slope of the weight: w = slope · J^β + intercept (>= 0)."}
    )
    kl_weight_intercept: float = field(
        default=0.0, metadata={"help": "Intercept of the weight: w = slope · J^β + intercept (>= 0)."}
    )

    def __post_init__(self) -> None:
        if self.certainty_kind not in CERTAINTY_KINDS:
            raise ValueError(f"certainty_kind must be one of {CERTAINTY_KINDS}, got {self.certainty_kind!r}")
        self.certainty_temperature = _finite_number("certainty_temperature", self.certainty_temperature)
        if self.certainty_temperature <= 0:
            raise ValueError(f"certainty_temperature must be > 0, got {self.certainty_temperature}")
        for name in ("kl_weight_beta", "kl_weight_slope", "kl_weight_intercept"):
            value = _finite_number(name, getattr(self, name))
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
            setattr(self, name, value)
        super().__post_init__()
