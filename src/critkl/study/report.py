"""The study's report: PNG curves with 95% bands, markdown with the paper's claims judged, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .aggregate import HELDOUT, curve, paired, run_summary


def new_figure(rows: int, cols: int, width: float, height: float):
    """A matplotlib figure (headless backend) with a ``rows × cols`` array of axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)


def save_figure(fig, path: Path, title: str) -> None:
    """Title, lay out, write as PNG and free the figure."""
    import matplotlib.pyplot as plt

    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


MIN_SEEDS_FOR_BANDS = 3  # a t-interval from 2 seeds (t = 12.7) spans the whole axis and says nothing

# marker and line style of the i-th series, so lines that coincide stay distinguishable (and in the legend)
# (no dotted style: dotted lines are single seeds)
STYLES = (("o", "-"), ("s", "--"), ("^", "-."), ("D", (0, (5, 1))), ("v", (0, (3, 1, 1, 1, 1, 1))),
          ("P", (0, (8, 2, 1, 2))), ("X", (0, (10, 3))))


def style(i: int) -> dict:
    """Keyword arguments of ``ax.plot`` for the ``i``-th series."""
    marker, ls = STYLES[i % len(STYLES)]
    return {"marker": marker, "ls": ls}


def _plot_curves(ax, arms_logs: dict, labels: dict, key: str) -> None:
    """Mean over seeds per arm, with a 95% t-band where at least ``MIN_SEEDS_FOR_BANDS`` seeds have the point;
    an arm with fewer seeds shows each seed as a thin dotted line instead (one legend entry says so)."""
    seed_lines = False
    for i, (name, logs) in enumerate(arms_logs.items()):
        c = curve(logs, key)
        if not c["episodes"]:
            continue
        x, m, h = np.array(c["episodes"]), np.array(c["mean"]), np.array(c["half"])
        (line,) = ax.plot(x, m, ms=4, label=labels[name], **style(i))
        enough = np.array(c["n"]) >= MIN_SEEDS_FOR_BANDS
        if enough.any():
            ax.fill_between(x, m - h, m + h, where=enough, alpha=0.2, color=line.get_color(), lw=0)
        seeds = [log for log in logs if any(key in r for r in log)]
        if len(seeds) >= MIN_SEEDS_FOR_BANDS:
            continue
        for log in seeds:
            pts = [(r["episodes"], r[key]) for r in log if key in r]
            ax.plot(*zip(*pts, strict=True), color=line.get_color(), lw=0.8, alpha=0.45, ls=":",
                    label=None if seed_lines else f"each seed (under {MIN_SEEDS_FOR_BANDS} seeds: no band)")
            seed_lines = True
    ax.set_xlabel("training episodes")
    ax.grid(alpha=0.3)


def _band_note(arms_logs: dict) -> str:
    few = min((len(logs) for logs in arms_logs.values()), default=0) < MIN_SEEDS_FOR_BANDS
    return "mean over seeds (dotted: each seed)" if few else "mean over seeds, 95% t-interval bands"


def plot_accuracy(arms_logs: dict, labels: dict, path: Path, title: str,
                  extra: tuple[tuple[str, str], ...] = (), mark_start: bool = False) -> None:
    """Held-out and in-distribution accuracy over training, one line per arm (plus ``extra`` panels);
    ``mark_start`` draws the start model's value as a dashed line in every panel."""
    keys = [(HELDOUT, "held-out N+k accuracy (sampled)"), *extra,
            ("in_dist_acc_sampled", "in-distribution accuracy (sampled)")]
    logged = {k for logs in arms_logs.values() for log in logs for r in log for k in r}
    keys = [kn for kn in keys if kn[0] == HELDOUT or kn[0] in logged]  # no empty panel
    fig, axes = new_figure(1, len(keys), 5.5, 4)
    axes = axes[0]
    for ax, (key, name) in zip(axes, keys, strict=True):
        _plot_curves(ax, arms_logs, labels, key)
        starts = [r[key] for logs in arms_logs.values() for log in logs for r in log[:1] if key in r]
        if mark_start and starts:
            ax.axhline(float(np.mean(starts)), color="grey", ls="--", lw=1, label="start model")
        ax.set_title(name)
        ax.set_ylabel("probability" if "p(" in name else "accuracy")
        top = min(1.02, max(ax.get_ylim()[1], 0.1))  # zoom on low accuracies instead of a flat line at 0
        ax.set_ylim(-0.02 * top, top)
    axes[0].legend(fontsize=8)
    save_figure(fig, path, f"{title} — {_band_note(arms_logs)}")


def plot_critical(arms_logs: dict, labels: dict, keys: list[str], path: Path, title: str = "") -> None:
    """p(correct critical token) over training, a panel per critical position (``title`` leads the
    figure's title)."""
    if not keys:
        return
    cols = min(3, len(keys))
    rows = int(np.ceil(len(keys) / cols))
    fig, axes = new_figure(rows, cols, 4.2, 3.2)
    for ax, key in zip(axes.flat, keys):
        _plot_curves(ax, arms_logs, labels, key)
        ax.set_title(key.removeprefix("p_critical/"), fontsize=9)
        ax.set_ylabel("p(correct token)")
        ax.set_ylim(-0.02, 1.02)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    save_figure(fig, path, (f"{title}: " if title else "") + "p(correct critical token) at the policy temperature, "
                "teacher-forced on the held-out problems")


def summaries(arms_logs: dict, key: str = HELDOUT) -> dict:
    """Per arm and seed: start, end (mean of the last 3 evaluations), AUC (mean after start)."""
    return {name: [run_summary(log, key) for log in logs] for name, logs in arms_logs.items()}


def compare(sums: dict, a: str, b: str, field: str = "end") -> dict:
    return paired([s[field] for s in sums[a]], [s[field] for s in sums[b]])


def fmt(d: dict) -> str:
    return f"{d['mean']:+.3f} ± {d['half']:.3f} (n={d['n']}, {d['verdict']})"


def write(out: Path, meta: dict, sections: list[str], data: dict) -> Path:
    """``report.md`` and ``results.json`` in ``out``; returns the markdown path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, **data}, indent=1, default=float))
    md = out / "report.md"
    md.write_text("\n".join(sections) + "\n")
    return md
