"""The kl-strength experiment: arms, per-run figures, verdicts with power, the collapse flag, plots."""

import math

import numpy as np
import pytest

from critkl.study import kl_strength as ks
from critkl.study.experiments import Arm, rl_arms
from critkl.study.power import (
    half_width,
    judge,
    min_detectable_difference,
    power_sentence,
    seeds_to_decide,
)

WEIGHT = {"kl": "prioritized", "certainty": "max_prob", "certainty_temperature": 1.0, "beta": 3600.0}


def test_arms_cover_the_grid_with_capped_seeds_away_from_the_focal_alpha():
    arms = ks.arms(WEIGHT, alphas=(0.01, 0.1, 1.0, 5.0), focal=5.0, grid_seeds=4)
    assert [a.name for a in arms] == ["no-kl", "standard-a0.01", "prioritized-a0.01", "standard-a0.1",
                                      "prioritized-a0.1", "standard-a1", "prioritized-a1", "standard-a5",
                                      "prioritized-a5"]
    seeds = {a.name: a.seeds(12) for a in arms}
    assert seeds["standard-a5"] == seeds["prioritized-a5"] == 12
    assert seeds["no-kl"] == seeds["prioritized-a0.1"] == 4
    assert {a.name: a.seeds(2) for a in arms}["no-kl"] == 2  # never more than asked for
    prio = next(a for a in arms if a.name == "prioritized-a1").overrides
    assert prio == {"kl": "prioritized", "alpha": 1.0, "certainty": "max_prob", "certainty_temperature": 1.0,
                    "beta": 3600.0}
    assert next(a for a in arms if a.name == "standard-a1").overrides == {"kl": "standard", "alpha": 1.0}
    assert [a.name for a in rl_arms("kl-strength", "cpu")][:3] == ["no-kl", "standard-a0.01", "prioritized-a0.01"]


def test_arms_reject_a_bad_grid():
    with pytest.raises(ValueError, match="focal"):
        ks.arms(WEIGHT, alphas=(0.1, 1.0), focal=5.0)
    with pytest.raises(ValueError, match="> 0"):
        ks.arms(WEIGHT, alphas=(0.0, 5.0), focal=5.0)


def test_the_paper_weight_adds_one_arm_at_the_focal_alpha():
    arms = ks.arms(WEIGHT, alphas=(0.1, 5.0), focal=5.0, paper_weight=ks.PAPER_WEIGHT)
    paper = [a for a in arms if a.name.startswith("prioritized-paper")]
    assert [a.name for a in paper] == ["prioritized-paper-a5"] and paper[0].max_seeds is None
    assert paper[0].overrides == {"kl": "prioritized", "alpha": 5.0, "certainty": "shannon",
                                  "certainty_temperature": 1.0, "beta": 150.0}
    assert ks.series(paper[0].name) == "prioritized-paper"


def test_arm_seed_cap():
    assert Arm("x", "x", max_seeds=3).seeds(10) == 3 and Arm("x", "x").seeds(10) == 10


# ------------------------------------------------------------------ power: hand-checked figures
def test_minimum_detectable_difference_hand_checked():
    # n = 10, sd = 1: t_{.975, 9} = 2.2622, t_{.80, 9} = 0.8834 (t tables); (2.2622 + 0.8834) / √10 = 0.9947
    assert min_detectable_difference(1.0, 10) == pytest.approx(0.9947, abs=1e-4)
    # n = 12, sd = 0.03: t_{.975, 11} = 2.2010, t_{.80, 11} = 0.8755; 3.0765 · 0.03 / √12 = 0.02664
    assert min_detectable_difference(0.03, 12) == pytest.approx(0.02664, abs=1e-5)
    assert half_width(0.03, 12) == pytest.approx(2.2010 * 0.03 / math.sqrt(12), rel=1e-4)
    with pytest.raises(ValueError, match="n must be"):
        min_detectable_difference(1.0, 1)


def test_seeds_to_decide_is_the_first_interval_narrower_than_the_effect():
    n = seeds_to_decide(0.03, 0.02)
    assert half_width(0.03, n) <= 0.01 < half_width(0.03, n - 1)


def test_judge_three_verdicts():
    up = judge([0.05, 0.04, 0.06, 0.05, 0.03], effect=0.02)
    assert up["verdict"] == "REPRODUCED" and up["low"] > 0
    null = judge([0.001, -0.002, 0.0, 0.002, -0.001, 0.0, 0.001, -0.001], effect=0.02)
    assert null["verdict"] == "REFUTED" and null["high"] < 0.02
    down = judge([-0.05, -0.04, -0.06], effect=0.02)
    assert down["verdict"] == "REFUTED"  # significantly worse excludes a gain of δ too
    wide = judge([0.05, -0.04, 0.02], effect=0.02)
    assert wide["verdict"] == "INCONCLUSIVE" and wide["seeds_to_decide"] > 3
    assert "seeds would decide" in power_sentence(wide)
    assert judge([0.1], effect=0.02)["verdict"] == "INCONCLUSIVE"


# ------------------------------------------------------------------ figures from synthetic logs
def _log(start, end, in_dist=1.0, w_other=0.97, ratio=2.0, evals=6):
    acc = np.linspace(start, end, evals)
    recs = []
    for i, a in enumerate(acc):
        rec = {"iteration": i * 10, "episodes": i * 320, "heldout_acc_sampled": float(a),
               "heldout_p_gold": float(a) * 0.8, "in_dist_acc_sampled": in_dist, "in_dist_p_gold": in_dist,
               "kl_ref_critical": 0.01 * i, "kl_ref_other": 0.001 * i, "p_critical/step_1/operand_1/n+1_comma": 0.9}
        if i:
            recs += [{"iteration": i * 10 - 1, "grad_ratio_kl_policy": ratio, "w_other_p50": w_other,
                      "w_critical_p50": 0.05}] * 2
        recs.append(rec)
    return recs


def test_run_figures_and_verdict_from_logs():
    arms = ks.arms(WEIGHT, alphas=(1.0, 5.0), focal=5.0, grid_seeds=2)
    rng = np.random.default_rng(0)
    logs = {a.name: [] for a in arms}
    for _ in range(10):
        logs["no-kl"].append(_log(0.1, 0.0, in_dist=0.0, ratio=0.0))
        for a in (1.0, 5.0):
            bump = rng.normal(0, 0.005)
            logs[f"standard-a{a:g}"].append(_log(0.1, 0.12 + bump, ratio=40 * a))
            logs[f"prioritized-a{a:g}"].append(_log(0.1, 0.16 + bump + rng.normal(0, 0.005), ratio=0.1 * a))
    figures = {k: [ks.run_figures(r) for r in v] for k, v in logs.items()}
    f = figures["prioritized-a5"][0]
    assert f["start"] == pytest.approx(0.1) and f["gain"] == pytest.approx(f["end"] - 0.1)
    assert f["grad_ratio"] == pytest.approx(0.5) and f["w_other_p50"] == pytest.approx(0.97)
    v = ks.verdicts(arms, figures, focal=5.0, effect=0.02)
    assert v["calibrated"]["main"]["verdict"] == "REPRODUCED" and v["calibrated"]["main"]["n"] == 10
    assert not v["calibrated"]["collapsed"] and "paper" not in v
    summary = ks.summarize(arms, figures)
    assert summary["standard-a5"]["seeds"] == 10 and summary["no-kl"]["alpha"] == 0.0
    lines = ks.verdict_lines(v, summary)
    assert "REPRODUCED" in lines[0] and "minimum detectable difference" in lines[0]
    assert "collapsed" not in "\n".join(ks.table_lines(summary))


def test_a_collapsed_prioritized_arm_is_flagged_not_judged(tmp_path):
    arms = ks.arms(WEIGHT, alphas=(5.0,), focal=5.0)
    logs = {"no-kl": [_log(0.1, 0.0)] * 3,
            "standard-a5": [_log(0.1, 0.12 + 0.01 * s) for s in range(3)],
            "prioritized-a5": [_log(0.1, 0.2 + 0.01 * s, w_other=1e-15) for s in range(3)]}
    figures = {k: [ks.run_figures(r) for r in v] for k, v in logs.items()}
    summary = ks.summarize(arms, figures)
    v = ks.verdicts(arms, figures)
    assert summary["prioritized-a5"]["collapsed"] and v["calibrated"]["collapsed"]
    assert "NOT A TEST OF THE PRIORITIZED KL" in ks.verdict_lines(v, summary)[0]
    assert "not a test of the prioritized KL" in "\n".join(ks.table_lines(summary))
    ks.plot_dose_response(summary, tmp_path / "dose.png", focal=5.0)
    assert (tmp_path / "dose.png").stat().st_size > 10_000


def test_plot_weights(tmp_path):
    w = np.array([1.0, 0.9, 1e-3, 1e-12])
    ks.plot_weights([("a", w, w), ("b", w[:2], w)], tmp_path / "w.png")
    assert (tmp_path / "w.png").stat().st_size > 10_000
