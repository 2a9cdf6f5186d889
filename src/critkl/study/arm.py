"""One arm of a study: a named set of :class:`critkl.RLConfig` overrides, run once per seed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Arm:
    """One configuration of an experiment: a name, a legend label, RLConfig overrides, and at most how
    many seeds it runs (``None``: as many as the study asks for)."""

    name: str
    label: str
    overrides: dict = field(default_factory=dict)
    max_seeds: int | None = None

    def seeds(self, requested: int) -> int:
        """Seeds this arm runs when the study asks for ``requested``.

        >>> Arm("a", "a", max_seeds=4).seeds(12), Arm("b", "b").seeds(12)
        (4, 12)
        """
        return requested if self.max_seeds is None else min(requested, self.max_seeds)
