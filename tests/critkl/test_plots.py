"""Every plot function, on a small input: each panel has axis labels (colour bars a label), series stay
distinguishable where lines coincide, bands only from MIN_SEEDS_FOR_BANDS seeds, the heatmap's colour scale
fits the data."""

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from critkl.arithmetic import Problem
from critkl.critical import Generation, certainty_range, heatmap_png
from critkl.study import kl_strength as ks
from critkl.study.pretraining import plot_lengths
from critkl.study.report import MIN_SEEDS_FOR_BANDS, plot_accuracy, plot_critical


@pytest.fixture
def saved(monkeypatch):
    """The figures saved during a test (captured just before they are written)."""
    figures = []
    save = Figure.savefig

    def spy(fig, *args, **kwargs):
        figures.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    return figures


def panels(fig):
    """The visible axes of a figure, colour bars apart: ``(panels, colour bars)``."""
    axes = [ax for ax in fig.axes if ax.axison]
    bars = [ax for ax in axes if ax.get_label() == "<colorbar>"]
    return [ax for ax in axes if ax not in bars], bars


def assert_labelled(fig):
    plots, bars = panels(fig)
    assert plots
    for ax in plots:
        assert ax.get_xlabel() and ax.get_ylabel(), (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())
    for bar in bars:
        assert bar.get_ylabel() or bar.get_xlabel()


def assert_series_distinguishable(ax):
    """Labelled data lines (not the reference lines) differ in marker or line style, not only colour."""
    lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_") and len(ln.get_xdata()) > 2]
    styles = [(ln.get_marker(), str(ln.get_linestyle())) for ln in lines]
    assert len(set(styles)) == len(styles), styles


def run_log(start, end, evals=4, seed_shift=0.0):
    out = []
    for i, a in enumerate(np.linspace(start, end, evals)):
        out.append({"episodes": 32 * i, "heldout_acc_sampled": float(a) + seed_shift,
                    "heldout_p_gold": 0.5 * float(a), "in_dist_acc_sampled": 0.9,
                    "p_critical/step_1/operand_1/n+1_comma": 0.8, "p_critical/step_2/operand_1/n+1_comma": 0.7})
    return out


def test_accuracy_and_critical_plots_label_every_panel_and_keep_coinciding_arms_apart(tmp_path, saved):
    # two arms with the same numbers: their lines coincide, yet both stay visible in each panel
    arms = {"a": [run_log(0.1, 0.2, seed_shift=0.01 * s) for s in range(3)],
            "b": [run_log(0.1, 0.2, seed_shift=0.01 * s) for s in range(3)]}
    labels = {"a": "arm a", "b": "arm b"}
    plot_accuracy(arms, labels, tmp_path / "acc.png", "t", extra=(("heldout_p_gold", "p(gold)"),), mark_start=True)
    plot_critical(arms, labels, ["p_critical/step_1/operand_1/n+1_comma", "p_critical/step_2/operand_1/n+1_comma"],
                  tmp_path / "crit.png", "t")
    assert len(saved) == 2
    for fig in saved:
        assert_labelled(fig)
        for ax in panels(fig)[0]:
            assert_series_distinguishable(ax)
            assert any(isinstance(c, PolyCollection) for c in ax.collections)  # 3 seeds: bands


def test_no_bands_from_fewer_seeds_than_the_minimum(tmp_path, saved):
    few = {"a": [run_log(0.1, 0.2, seed_shift=0.01 * s) for s in range(MIN_SEEDS_FOR_BANDS - 1)]}
    plot_accuracy(few, {"a": "arm a"}, tmp_path / "acc.png", "t")
    (fig,) = saved
    assert_labelled(fig)
    for ax in panels(fig)[0]:
        assert not any(isinstance(c, PolyCollection) for c in ax.collections)
        assert any(ln.get_label().startswith("each seed") for ln in ax.get_lines())  # said in the legend
    # a point that only 2 of 3 seeds reach gets no band there either
    ragged = {"a": [run_log(0.1, 0.2), run_log(0.1, 0.2, seed_shift=0.01), run_log(0.1, 0.2, evals=2)]}
    plot_accuracy(ragged, {"a": "arm a"}, tmp_path / "acc2.png", "t")
    band = next(c for c in panels(saved[-1])[0][0].collections if isinstance(c, PolyCollection))
    assert band.get_paths()[0].vertices[:, 0].max() <= 32  # only over the episodes all 3 seeds have


def test_kl_strength_plots_are_labelled_and_skip_intervals_of_two_seeds(tmp_path, saved):
    row = {"alpha": 1.0, "series": "standard", "seeds": 2}
    fields = ("gain", "gold_gain", "in_dist_end", "kl_other_end", "kl_critical_end", "grad_ratio",
              "w_other_p50", "w_critical_p50")
    summary = {f"{kl}-a{a:g}": {**row, "alpha": a, "series": kl, **{f: (0.1 + 0.01 * a, 0.05) for f in fields}}
               for kl in ("standard", "prioritized") for a in (0.1, 1.0)}
    summary["no-kl"] = {**row, "series": "no-kl", "alpha": 0.0, **{f: (0.05, 0.02) for f in fields}}
    ks.plot_dose_response(summary, tmp_path / "dose.png", focal=1.0)
    (fig,) = saved
    assert_labelled(fig)
    for ax in panels(fig)[0]:
        for container in ax.containers:  # error bars of zero length: no interval from 2 seeds
            segments = [seg for coll in container.lines[2] for seg in coll.get_segments()]
            assert all(np.allclose(seg[0], seg[1]) for seg in segments)
        assert not ax.patches  # no band for "no KL" either
    w = np.array([1.0, 0.9, 1e-3, 1e-12])
    ks.plot_weights([("a", w, w), ("b", w[:2], w)], tmp_path / "w.png")
    assert_labelled(saved[-1])
    for ax in panels(saved[-1])[0]:  # same values in both series: bars side by side, none hidden
        left = sorted(round(p.get_x(), 6) for p in ax.patches if p.get_height() > 0)
        assert len(left) == len(set(left))


def test_length_plot_is_labelled_and_keeps_coinciding_curves_apart(tmp_path, saved):
    curve = {3: (1.0, 0.98, 1.0), 4: (0.0, 0.0, 0.02), 5: (0.0, 0.0, 0.02)}
    plot_lengths({"identical": {3: curve, 4: dict(curve)}, "varying": {3: curve}}, tmp_path / "len.png")
    (fig,) = saved
    assert_labelled(fig)
    assert_series_distinguishable(panels(fig)[0][0])


def test_heatmap_colour_scale_fits_the_data_and_is_labelled(tmp_path, saved):
    text = "ab\ncd\n"
    certainty = np.array([0.97, 0.85, 0.99, 1.0, 0.93, 0.999])
    gen = Generation(Problem(1, 2), text, certainty, np.array([False, True, False, False, False, False]))
    heatmap_png(gen, tmp_path / "h.png", measure="Shannon certainty J at T=1")
    (fig,) = saved
    assert_labelled(fig)
    image = panels(fig)[0][0].images[0]
    low, high = image.get_clim()
    assert 0.8 <= low <= certainty.min() and high == 1.0  # not 0..1: the values lie in 0.85..1
    assert certainty_range(np.array([0.1, 1.0])) == (0.1, 1.0)
    assert certainty_range(np.array([])) == (0.0, 1.0)
