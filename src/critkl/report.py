"""Tables laid out like the paper's Table 1 (ΔJ on critical vs non-critical tokens)."""

from __future__ import annotations

from collections.abc import Sequence

from .bootstrap import half_width
from .critical import DeltaJRow

HEADER = ["N", "digits", "certainty", "outputs", "crit. tokens", "ΔJ critical", "ΔJ non-crit. (mean)",
          "ΔJ non-crit. (min)", "J crit / other", "acc."]


def _pm(ci: tuple[float, float, float], digits: int = 3) -> str:
    return f"{ci[0]:+.{digits}f} ± {half_width(ci[1], ci[2]):.{digits}f}"


def delta_j_cells(kind: str, temperature: float, row: DeltaJRow) -> list[str]:
    """One formatted row."""
    return [
        str(row.max_digits), str(row.digits), f"{kind} T={temperature:g}", str(row.generations),
        str(row.critical_tokens), _pm(row.critical), _pm(row.non_critical, 4), _pm(row.non_critical_min),
        f"{row.j_critical:.3f} / {row.j_non_critical:.3f}",
        f"{100 * row.accuracy:.0f}%" if row.source == "generated" else "n/a",
    ]


def delta_j_markdown(rows: Sequence[tuple[str, float, DeltaJRow]]) -> str:
    """Markdown table, one line per certainty measure."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(delta_j_cells(k, t, r)) + " |" for k, t, r in rows]
    return "\n".join(lines)


def delta_j_rich(rows: Sequence[tuple[str, float, DeltaJRow]], title: str = "ΔJ"):
    """A rich Table for the console."""
    from rich.table import Table

    table = Table(title=title)
    for h in HEADER:
        table.add_column(h)
    for k, t, r in rows:
        table.add_row(*delta_j_cells(k, t, r))
    return table
