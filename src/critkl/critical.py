"""Critical tokens (paper §3.3): their locations, the ΔJ table (paper Table 1) and certainty heatmaps (Fig. 5).

Locations follow the official ``Prompt.extract_critical_tokens``: on scratchpad lines
k = 1, 2, 3, for each operand with gap g = digits - N > 0, the list ``[d1,...,dm]``
(m = digits - (k-1)) has ``]`` at index 2m and its critical characters are the last 2g
characters before it (for g = 1: the comma before the last digit, and that digit).

ΔJ (paper Table 1): for each token i of one output, ``ΔJ_i = J_i - mean_{j≠i} J_j``,
where ``J_i`` is the certainty of the distribution that predicts token i.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .arithmetic import SCRATCH_OPEN, Problem
from .bootstrap import bootstrap_ci
from .generation import generate
from .kl import certainty
from .tokenizer import encode

STEPS_OF_INTEREST = (1, 2, 3)


@dataclass(frozen=True)
class CriticalToken:
    """A critical character: its index in the continuation and the official logging name."""

    index: int
    step: int
    operand: int
    gap: int
    kind: str  # "comma" or "digit"

    @property
    def name(self) -> str:
        return f"step_{self.step}/operand_{self.operand}/n+{self.gap}_{self.kind}"


def critical_positions(problem: Problem, max_digits: int, steps: Sequence[int] = STEPS_OF_INTEREST) -> list[CriticalToken]:
    """Critical characters of ``problem.target`` for a model pre-trained on 1..N digits.

    >>> [(t.index, t.name) for t in critical_positions(Problem(1234, 5), 3)][:2]
    [(17, 'step_1/operand_1/n+1_comma'), (18, 'step_1/operand_1/n+1_digit')]
    """
    if isinstance(max_digits, bool) or not isinstance(max_digits, int) or max_digits < 1:
        raise ValueError(f"max_digits must be an int >= 1, got {max_digits!r}")
    text = problem.target
    line_start = len("\n" + SCRATCH_OPEN + "\n")
    lines = text[line_start:].split("\n")
    starts = np.cumsum([line_start] + [len(x) + 1 for x in lines]).tolist()
    digits = (len(str(problem.a)), len(str(problem.b)))
    out = []
    for k in steps:
        if k - 1 >= max(digits):  # no such scratchpad line
            break
        line, origin = lines[k - 1], starts[k - 1]
        offset = 0
        for j, d in enumerate(digits, start=1):
            m = max(d - (k - 1), 0)
            list_len = 2 * m + 1 if m else 2
            g = d - max_digits
            if g > 0 and m > 0:
                for i in range(1, g + 1):  # pair i: comma at 2m-2(g-i+1), digit right after
                    comma = 2 * m - 2 * (g - i + 1)
                    for idx, kind in ((comma, "comma"), (comma + 1, "digit")):
                        if idx >= 1:
                            assert kind == "digit" or line[offset + idx] == ","
                            out.append(CriticalToken(origin + offset + idx, k, j, i, kind))
            offset += list_len + len(" + ")
    return sorted(out, key=lambda t: t.index)


@torch.no_grad()
def token_certainty(model, problem: Problem, continuation: str, kind: str = "shannon",
                    temperature: float = 1.0) -> np.ndarray:
    """Certainty of the distribution that predicts each character of ``continuation``.

    One forward pass over ``prompt + continuation`` (teacher forcing).
    """
    prompt_ids = encode(problem.prompt)
    ids = prompt_ids + encode(continuation)
    if len(ids) > model.config.n_positions:
        raise ValueError(
            f"problem {problem.a}+{problem.b}: {len(ids)} tokens exceed the model's context of "
            f"{model.config.n_positions}"
        )
    device = next(model.parameters()).device
    logits = model(input_ids=torch.tensor([ids], device=device)).logits[0]
    pred = logits[len(prompt_ids) - 1 : len(ids) - 1]
    return certainty(pred, kind=kind, temperature=temperature).cpu().numpy()


def delta_j(j: np.ndarray) -> np.ndarray:
    """``ΔJ_i = J_i - mean_{j≠i} J_j`` for one output.

    >>> delta_j(np.array([1.0, 1.0, 0.4])).round(2).tolist()
    [0.3, 0.3, -0.6]
    """
    j = np.asarray(j, dtype=float)
    if j.ndim != 1 or j.size < 2:
        raise ValueError("j must be a 1-D array of at least 2 certainties")
    others = (j.sum() - j) / (j.size - 1)
    return j - others


@dataclass
class Generation:
    """One analysed output: text, per-token certainty, critical mask and ΔJ."""

    problem: Problem
    text: str
    certainty: np.ndarray
    critical: np.ndarray  # bool per token
    names: dict[int, str] = field(default_factory=dict)
    correct: bool = False

    @property
    def delta(self) -> np.ndarray:
        return delta_j(self.certainty)


def analyse(model, problems: Sequence[Problem], max_digits: int, source: str = "generated",
            kind: str = "shannon", temperature: float = 1.0, batch_size: int = 64) -> list[Generation]:
    """Certainty and critical tokens for each problem's output.

    ``source="generated"``: the model's greedy output; a critical position counts when the
    output matches the ground truth up to it (the state is the official critical state),
    whatever the model then emits. ``source="ground_truth"``: the reference scratchpad.
    """
    if source not in ("generated", "ground_truth"):
        raise ValueError(f"source must be 'generated' or 'ground_truth', got {source!r}")
    from .arithmetic import is_correct

    texts = (generate(model, problems, batch_size=batch_size) if source == "generated"
             else [p.target for p in problems])
    out = []
    for p, text in zip(problems, texts, strict=True):
        truth = p.target
        if len(text) < 2:
            continue
        j = token_certainty(model, p, text, kind=kind, temperature=temperature)
        mask = np.zeros(len(text), dtype=bool)
        names = {}
        for t in critical_positions(p, max_digits):
            if t.index < len(text) and text[: t.index] == truth[: t.index]:
                mask[t.index] = True
                names[t.index] = t.name
        out.append(Generation(p, text, j, mask, names, is_correct(text, p.a, p.b)))
    return out


@dataclass(frozen=True)
class DeltaJRow:
    """One Table 1 row. Means are over generations of the per-generation mean ΔJ, ± 95% bootstrap."""

    max_digits: int
    digits: int
    generations: int
    critical_tokens: int
    critical: tuple[float, float, float]
    non_critical: tuple[float, float, float]
    non_critical_min: tuple[float, float, float]
    j_critical: float
    j_non_critical: float
    accuracy: float  # exact match of the analysed outputs (1.0 for ground-truth outputs)
    source: str = "generated"


def delta_j_table(gens: Sequence[Generation], max_digits: int, seed: int = 0,
                  source: str = "generated") -> DeltaJRow:
    """Aggregate ΔJ on critical vs non-critical tokens over generations (paper Table 1)."""
    with_crit = [g for g in gens if g.critical.any()]
    if not with_crit:
        raise ValueError(
            "no output reached a critical token: use problems longer than N digits, or "
            "source='ground_truth' if the model's outputs go wrong before the first one"
        )
    crit = [g.delta[g.critical].mean() for g in with_crit]
    non = [g.delta[~g.critical].mean() for g in gens]
    non_min = [g.delta[~g.critical].min() for g in gens]
    return DeltaJRow(
        max_digits=max_digits,
        digits=gens[0].problem.digits,
        generations=len(gens),
        critical_tokens=int(sum(g.critical.sum() for g in gens)),
        critical=bootstrap_ci(crit, seed=seed),
        non_critical=bootstrap_ci(non, seed=seed),
        non_critical_min=bootstrap_ci(non_min, seed=seed),
        j_critical=float(np.concatenate([g.certainty[g.critical] for g in with_crit]).mean()),
        j_non_critical=float(np.concatenate([g.certainty[~g.critical] for g in gens]).mean()),
        accuracy=float(np.mean([g.correct for g in gens])),
        source=source,
    )


def per_name_certainty(gens: Sequence[Generation]) -> dict[str, tuple[float, int]]:
    """Mean certainty per official critical-token name, with its count."""
    acc: dict[str, list[float]] = {}
    for g in gens:
        for i, name in g.names.items():
            acc.setdefault(name, []).append(float(g.certainty[i]))
    return {k: (float(np.mean(v)), len(v)) for k, v in sorted(acc.items())}


# ----------------------------------------------------------------------------- heatmaps


def heatmap_html(gens: Sequence[Generation], title: str = "certainty") -> str:
    """HTML page: each character on a background coloured by certainty; critical ones boxed."""
    import matplotlib

    cmap = matplotlib.colormaps["RdYlGn"]
    parts = [
        "<!doctype html><meta charset='utf-8'><title>" + html.escape(title) + "</title>",
        "<style>body{font-family:monospace}pre{line-height:1.5}span.c{outline:2px solid #000}</style>",
        f"<h3>{html.escape(title)}</h3><p>colour: certainty 0 (red) .. 1 (green); boxed: critical tokens</p>",
    ]
    for g in gens:
        parts.append(f"<h4>{g.problem.a}+{g.problem.b} ({'correct' if g.correct else 'wrong'})</h4><pre>")
        for i, ch in enumerate(g.text):
            r, gg, b, _ = cmap(float(g.certainty[i]))
            style = f"background:rgb({int(255 * r)},{int(255 * gg)},{int(255 * b)})"
            cls = " class='c'" if g.critical[i] else ""
            tip = f"J={g.certainty[i]:.3f}" + (f" {g.names[i]}" if i in g.names else "")
            shown = "&#9166;\n" if ch == "\n" else html.escape(ch)
            parts.append(f"<span{cls} style='{style}' title='{tip}'>{shown}</span>")
        parts.append("</pre>")
    return "".join(parts)


def certainty_range(values: np.ndarray, low: float = 1.0) -> tuple[float, float]:
    """Colour-scale limits fitted to the data: from the ``low`` percentile (a few outliers do not stretch the
    scale) to 1, widened to at least 0.05.

    >>> certainty_range(np.array([0.80, 0.9, 0.95, 1.0]))
    (0.8, 1.0)
    >>> certainty_range(np.array([0.99, 1.0]))
    (0.95, 1.0)
    """
    if values.size == 0:
        return 0.0, 1.0
    lo = float(np.floor(np.percentile(values, low) * 100) / 100)
    return max(0.0, min(lo, 0.95)), 1.0


def heatmap_png(gen: Generation, path, title: str = "", measure: str = "certainty J") -> None:
    """PNG of one output, one cell per character coloured by certainty (like the paper's Fig. 5); the colour
    scale spans the data (:func:`certainty_range`), ``measure`` names it on the colour bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: list[list[tuple[str, float, bool]]] = [[]]
    for i, ch in enumerate(gen.text):
        if ch == "\n":
            lines[-1].append(("⏎", float(gen.certainty[i]), bool(gen.critical[i])))
            lines.append([])
        else:
            lines[-1].append((ch, float(gen.certainty[i]), bool(gen.critical[i])))
    width = max(len(x) for x in lines)
    fig, ax = plt.subplots(figsize=(max(6, width * 0.16), max(2, len(lines) * 0.32)))
    grid = np.full((len(lines), width), np.nan)
    for r, line in enumerate(lines):
        for c, (_, v, _) in enumerate(line):
            grid[r, c] = v
    vmin, vmax = certainty_range(grid[np.isfinite(grid)])
    im = ax.imshow(grid, cmap="RdYlGn", vmin=vmin, vmax=vmax, aspect="auto")
    for r, line in enumerate(lines):
        for c, (ch, _, crit) in enumerate(line):
            ax.text(c, r, ch, ha="center", va="center", fontsize=7, family="monospace",
                    fontweight="bold" if crit else "normal")
            if crit:
                ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=1.5, ec="black"))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("character of the line", fontsize=8)
    ax.set_ylabel("output line", fontsize=8)
    ax.set_title(title or f"{gen.problem.a}+{gen.problem.b}: certainty per token (boxed: critical)", fontsize=9)
    bar = fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01, extend="min" if vmin > 0 else "neither")
    bar.set_label(measure + " (1: certain)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
