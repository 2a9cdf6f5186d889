"""Length generalization: exact-match accuracy on the identical/varying sets at N..N+3 (paper Tables 4/5)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .arithmetic import EVAL_KINDS, Problem, eval_set, is_correct
from .bootstrap import bootstrap_ci, half_width
from .generation import generate


@dataclass(frozen=True)
class Cell:
    """Accuracy of one (setup, decoding, length) cell, in [0, 1], with its 95% bootstrap interval."""

    kind: str
    temperature: float
    digits: int
    accuracy: float
    low: float
    high: float
    n: int

    @property
    def decoding(self) -> str:
        return "greedy" if self.temperature == 0 else f"T={self.temperature:g}"

    def text(self) -> str:
        """``98.9±0.7`` in percent, as in the paper's tables."""
        return f"{100 * self.accuracy:.1f}±{100 * half_width(self.low, self.high):.1f}"


def accuracy(model, problems: Sequence[Problem], temperature: float = 0.0, batch_size: int = 64,
             seed: int = 0, progress=None) -> np.ndarray:
    """Per-problem exact match (0/1) of the generated result line (``progress(n)`` after each batch of n).

    >>> accuracy(model, eval_set(3, "identical", size=10)).mean()  # doctest: +SKIP
    1.0
    """
    texts = generate(model, problems, temperature=temperature, batch_size=batch_size, seed=seed,
                     progress=progress)
    return np.array([is_correct(t, p.a, p.b) for t, p in zip(texts, problems, strict=True)], dtype=float)


def length_table(
    model,
    max_digits: int,
    size: int = 1000,
    temperatures: Sequence[float] = (0.0,),
    kinds: Sequence[str] = EVAL_KINDS,
    extra_lengths: int = 3,
    batch_size: int = 64,
    seed: int = 0,
    progress=None,
) -> list[Cell]:
    """Cells for every kind × temperature × length in N..N+extra_lengths.

    ``progress`` is an optional callable ``(done, total)`` counting generations (problems), called after
    every batch.
    """
    if isinstance(max_digits, bool) or not isinstance(max_digits, int) or max_digits < 1:
        raise ValueError(f"max_digits must be an int >= 1, got {max_digits!r}")
    if isinstance(extra_lengths, bool) or not isinstance(extra_lengths, int) or extra_lengths < 0:
        raise ValueError(f"extra_lengths must be an int >= 0, got {extra_lengths!r}")
    for t in temperatures:
        if not (math.isfinite(t) and t >= 0):
            raise ValueError(f"temperatures must be finite and >= 0 (0: greedy), got {t}")
    lengths = range(max_digits, max_digits + extra_lengths + 1)
    jobs = [(k, t, d) for k in kinds for t in temperatures for d in lengths]
    sets = {(kind, d): eval_set(d, kind, size=size, seed=seed) for kind in kinds for d in lengths}
    total = sum(len(sets[kind, d]) for kind, _, d in jobs)
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        progress(done[0], total)

    cells = []
    for kind, t, d in jobs:
        problems = sets[kind, d]
        hits = accuracy(model, problems, temperature=t, batch_size=batch_size, seed=seed + d,
                        progress=None if progress is None else advance)
        mean, lo, hi = bootstrap_ci(hits, seed=seed)
        cells.append(Cell(kind, t, d, mean, lo, hi, len(problems)))
    return cells


def generation_seconds(model, problems: Sequence[Problem], threads: int = 0) -> float:
    """A rough time for generating scratchpads for ``problems`` on CPU: their gold scratchpad tokens ×
    the model's parameters at ~3.5e9 parameter·tokens per second per thread (``tiny-n3``: ~8,000 tokens/s on
    2 cores, measured on a shared 2-core machine); ``threads`` 0: torch's thread count."""
    import torch

    tokens = sum(len(p.target) for p in problems)
    params = sum(p.numel() for p in model.parameters())
    return tokens * params / (3.5e9 * (threads or torch.get_num_threads()))


def table_rows(cells: Sequence[Cell], max_digits: int) -> tuple[list[str], list[list[str]]]:
    """Header and rows laid out like Tables 4/5: one row per setup × decoding, lengths as columns."""
    lengths = sorted({c.digits for c in cells})
    header = ["N", "eval", "decoding"] + [
        f"{'N' if d == max_digits else f'N+{d - max_digits}'} ({d})" for d in lengths
    ]
    rows = []
    keys = []
    for c in cells:
        if (c.kind, c.temperature) not in keys:
            keys.append((c.kind, c.temperature))
    for kind, t in keys:
        by_len = {c.digits: c for c in cells if c.kind == kind and c.temperature == t}
        label = "identical (T4)" if kind == "identical" else "varying (T5)"
        decoding = by_len[lengths[0]].decoding
        rows.append([str(max_digits), label, decoding] + [by_len[d].text() if d in by_len else "" for d in lengths])
    return header, rows


def markdown_table(cells: Sequence[Cell], max_digits: int) -> str:
    """The same table as GitHub markdown."""
    header, rows = table_rows(cells, max_digits)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
