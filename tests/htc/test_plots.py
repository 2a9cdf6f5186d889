"""Every plot function, on a small input: each panel has axis labels, coinciding series (BCE and CHAMP) stay
distinguishable, and bands or error bars appear only from MIN_SEEDS_FOR_BANDS seeds."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from htc import multipath_study, reproduce  # noqa: E402
from htc.intervals import MIN_SEEDS_FOR_BANDS  # noqa: E402


@pytest.fixture
def saved(monkeypatch):
    figures = []
    save = Figure.savefig

    def spy(fig, *args, **kwargs):
        figures.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return figures


def plotted_axes(fig):
    return [ax for ax in fig.axes if ax.axison]


def assert_labelled(fig):
    for ax in plotted_axes(fig):
        assert ax.get_xlabel() and ax.get_ylabel(), (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())


def raw_runs(seeds: int) -> dict:
    """Two losses with identical numbers (as CHAMP and BCE nearly are) and a third one."""
    curve = np.linspace(0.6, 0.2, len(reproduce.THRESHOLDS))
    depth = {dec: {"1": 0.8, "2": 0.6, "3": 0.3} for dec in ("top_down_0.5", "optimal_hf")}
    run = lambda s, shift: {"seed": s, "curve": (curve + shift + 0.01 * s).tolist(), "depth": depth}  # noqa: E731
    return {"bce": [run(s, 0.0) for s in range(seeds)], "champ": [run(s, 0.0) for s in range(seeds)],
            "leaf_softmax": [run(s, 0.05) for s in range(seeds)]}


@pytest.mark.parametrize("seeds", [MIN_SEEDS_FOR_BANDS - 1, MIN_SEEDS_FOR_BANDS])
def test_reproduce_plots_label_every_panel_keep_coinciding_losses_apart_and_band_from_3_seeds(
        tmp_path, saved, seeds):
    reproduce.plots(raw_runs(seeds), {}, tmp_path)
    assert [p.name for p in sorted(tmp_path.glob("*.png"))] == ["hf1_vs_threshold.png", "per_depth.png"]
    assert len(saved) == 2
    for fig in saved:
        assert_labelled(fig)
        for ax in plotted_axes(fig):
            lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
            styles = [(ln.get_marker(), str(ln.get_linestyle())) for ln in lines]
            assert len(lines) == 3 and len(set(styles)) == 3, styles
    bands = [c for c in plotted_axes(saved[0])[0].collections if isinstance(c, PolyCollection)]
    assert len(bands) == (3 if seeds >= MIN_SEEDS_FOR_BANDS else 0)


@pytest.mark.parametrize("seeds", [1, MIN_SEEDS_FOR_BANDS])
def test_multipath_plot_is_labelled_and_has_error_bars_only_from_3_seeds(tmp_path, saved, seeds):
    summary = {m: {d: {k: (0.5 + 0.01 * i, 0.02) for k in multipath_study.METRICS}
                   for i, d in enumerate(multipath_study.DECODERS)}
               | {"vs_best_other": {"seeds": seeds}} for m in multipath_study.MODELS}
    multipath_study.plot(summary, tmp_path / "mp.png")
    (fig,) = saved
    assert_labelled(fig)
    for ax in plotted_axes(fig):
        has_bars = any(c.has_yerr for c in ax.containers if hasattr(c, "has_yerr") and c.has_yerr)
        assert has_bars == (seeds >= MIN_SEEDS_FOR_BANDS)
