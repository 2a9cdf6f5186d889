"""``regime-pilot``: a regime where RL on the testbed learns, found by measuring the levers.

The kl-strength study ran A2C with a learned critic from the start model's own value head. There
the KL acted as a step-size limiter rather than an exploration regulator: without a KL the
policy-gradient step itself destroyed the policy, and with one the policy barely moved
(docs/critkl-results.md). This pilot measures, over the same seeds, the levers that decide whether
RL learns at all on ``tiny-n4`` → 5 digits (policy temperature 1, lr 3e-5, the 256 held-out
problems of every cpu-scale study):

- **the critic**: GAE with the untrained value head on the shared trunk (the paper's A2C), against a
  critic-free group baseline (each problem sampled 4 times, advantage = return minus the mean
  return of the problem's other episodes: RLOO, Ahmadian et al. 2024), with no value loss;
- **the step size**: Adam ε = 1e-3 (steps 25–50× smaller than at 1e-8 on these sparse gradients),
  and a larger learning rate with gradient-norm clipping;
- **the KL**: none, and standard KL at α = 0.1 and α = 1.

Per lever and KL: held-out p(gold) and sampled accuracy gains over the start with 95% intervals
(the accuracy interval includes the start evaluation's own binomial noise; p(gold) is exact on the
fixed problems), whether the run collapsed (in-distribution accuracy below 0.5 at any evaluation,
or held-out p(gold) at the end below half the start's), whether the mean curve dips below the
start, the exact KL to the reference on gold states at the end, and the cost of a run.

>>> [a.name for a in arms()][:3]
['critic-eps1e-3-no-kl', 'group4-no-kl', 'group4-standard-a0.1']
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .aggregate import HELDOUT, read_log
from .arm import Arm
from .power import binomial_se, gain_interval
from .report import plot_accuracy

P_GOLD = "heldout_p_gold"
SEEDS = 4
# the pilot's shared settings, over the cpu scale's (SCALE_SETTINGS["cpu"]): 960 episodes, a test every
# 10 collects; Adam ε 1e-3 for every lever (the kl-strength study's 1e-8 destroyed the policy in 8 steps)
SETTINGS = {"episodes": 960, "eval_every": 10, "adam_eps": 1e-3}
CRITIC = {"advantage": "gae"}
GROUP = {"advantage": "group", "group_size": 4}
LEVERS = {
    "critic-eps1e-3": ("critic (GAE)", CRITIC),
    "group4": ("group baseline (RLOO, G=4)", GROUP),
    "group4-lr1e-4-clip1": ("group baseline, lr 1e-4, clip 1", {**GROUP, "lr": 1e-4,
                                                                          "max_grad_norm": 1.0}),
}
KLS = {"no-kl": ("no KL", {"kl": "none", "alpha": 0.0}),
       "standard-a0.1": ("standard KL, α=0.1", {"kl": "standard", "alpha": 0.1}),
       "standard-a1": ("standard KL, α=1", {"kl": "standard", "alpha": 1.0})}
# what ran with 4 seeds; the lr 1e-4 + clipping lever was probed with one seed (docs/critkl-results.md)
PLAN = {"critic-eps1e-3": ("no-kl",), "group4": ("no-kl", "standard-a0.1", "standard-a1")}


def arms() -> list[Arm]:
    """Every (lever, KL) pair of :data:`PLAN`."""
    return [Arm(f"{lever}-{kl}", f"{LEVERS[lever][0]} · {KLS[kl][0]}", {**LEVERS[lever][1], **KLS[kl][1]})
            for lever, kls in PLAN.items() for kl in kls]


def run_figures(log: list[dict], n_test: int) -> dict:
    """One run's start and end figures (end: its last evaluation), collapse flag and cost."""
    evals = [r for r in log if HELDOUT in r]
    first, last = evals[0], evals[-1]
    in_dist = [r["in_dist_acc_sampled"] for r in evals if "in_dist_acc_sampled" in r]
    return {
        "start_gold": first[P_GOLD], "end_gold": last[P_GOLD],
        "start_acc": first[HELDOUT], "end_acc": last[HELDOUT],
        "curve_gold": [r[P_GOLD] for r in evals], "curve_acc": [r[HELDOUT] for r in evals],
        "in_dist_end": in_dist[-1] if in_dist else math.nan,
        "in_dist_min": min(in_dist) if in_dist else math.nan,
        "kl_gold_other_end": last.get("kl_ref_other", math.nan),
        "kl_gold_critical_end": last.get("kl_ref_critical", math.nan),
        "collapsed": bool((in_dist and min(in_dist) < 0.5) or last[P_GOLD] < 0.5 * first[P_GOLD]),
        "minutes": max((r.get("wall_s") or 0.0) for r in log) / 60,
        "n_test": n_test,
    }


def summarize(figs: list[dict]) -> dict:
    """Gains with intervals over seeds, collapse count, dip of the mean curve, cost."""
    start_gold, start_acc = figs[0]["start_gold"], figs[0]["start_acc"]  # one shared start evaluation
    gold = gain_interval([f["end_gold"] for f in figs], start_gold)
    acc = gain_interval([f["end_acc"] for f in figs], start_acc,
                        binomial_se(start_acc, figs[0]["n_test"]))
    mean_gold = np.mean([f["curve_gold"] for f in figs], axis=0)
    mean_acc = np.mean([f["curve_acc"] for f in figs], axis=0)
    return {"seeds": len(figs), "start_gold": start_gold, "start_acc": start_acc, "gold_gain": gold,
            "acc_gain": acc, "collapsed": sum(f["collapsed"] for f in figs),
            "dips": bool((mean_gold[1:] < start_gold).any() or (mean_acc[1:] < start_acc).any()),
            "in_dist_end": float(np.mean([f["in_dist_end"] for f in figs])),
            "kl_gold_other_end": float(np.mean([f["kl_gold_other_end"] for f in figs])),
            "kl_gold_critical_end": float(np.mean([f["kl_gold_critical_end"] for f in figs])),
            "minutes": [float(min(f["minutes"] for f in figs)), float(max(f["minutes"] for f in figs))]}


def _pm(g: dict) -> str:
    return f"{g['mean']:+.3f} ± {g['half']:.3f}" if math.isfinite(g.get("half", math.nan)) else f"{g['mean']:+.3f}"


def study(base: dict, seeds: int, out: Path, jobs: int, console=None) -> tuple[list[str], dict]:
    """Run the pilot (resumable) and return its report sections and data."""
    from .runner import run_all

    arm_list = arms()
    runs = run_all(base, arm_list, seeds, out, jobs=jobs, console=console)
    logs: dict[str, list[list[dict]]] = {a.name: [] for a in arm_list}
    for arm, _, folder in runs:
        logs[arm.name].append(read_log(folder, evaluations_only=False))
    n_test = int(base["test_episodes"])
    table = {a.name: summarize([run_figures(lg, n_test) for lg in logs[a.name]]) for a in arm_list}
    labels = {a.name: a.label for a in arm_list}
    plot_accuracy({k: [[r for r in lg if HELDOUT in r] for lg in v] for k, v in logs.items()}, labels,
                  out / "accuracy.png", "regime pilot (Adam ε 1e-3, lr 3e-5)",
                  extra=((P_GOLD, "held-out p(gold solution)"),))
    settings = ", ".join(f"{k}={v}" for k, v in base.items())
    lines = [
        "A pilot: each lever with the same 4 seeds, to choose the regime of the mechanism study "
        "(`critkl reproduce mechanism`); not a test of the paper's claim.", "",
        f"Shared settings: {settings}. Each row: {seeds} seeds; gains are the last evaluation minus the "
        "start model's (one evaluation shared by every run) with 95% intervals; the accuracy interval "
        f"includes the start evaluation's binomial noise (±{1.96 * binomial_se(table[arm_list[0].name]['start_acc'], n_test):.3f} "
        f"on {n_test} problems), p(gold) is exact on the fixed problems. Collapsed: in-distribution "
        "accuracy below 0.5 at an evaluation, or p(gold) at the end below half the start's. Dips: the "
        "mean curve falls below the start at an evaluation. KL: exact KL(π‖π_ref) on gold states at "
        "the end (other / critical tokens).", "",
        "| lever · KL | p(gold) gain | accuracy gain | collapsed | dips | in-dist. end | KL other / critical | min per run |",
        "|---|---|---|---|---|---|---|---|"]
    for a in arm_list:
        t = table[a.name]
        lines.append(f"| {a.label} | {_pm(t['gold_gain'])} | {_pm(t['acc_gain'])} | "
                     f"{t['collapsed']}/{t['seeds']} | {'yes' if t['dips'] else 'no'} | {t['in_dist_end']:.3f} | "
                     f"{t['kl_gold_other_end']:.4f} / {t['kl_gold_critical_end']:.4f} | "
                     f"{t['minutes'][0]:.1f}–{t['minutes'][1]:.1f} |")
    start = table[arm_list[0].name]
    lines += ["", f"Start model: held-out p(gold) {start['start_gold']:.3f}, sampled accuracy "
              f"{start['start_acc']:.3f}.", "", "![accuracy](accuracy.png)", "",
              "Per-run logs: `runs/<arm>/seed<k>/log.jsonl` under the output folder."]
    return lines, {"arms": {a.name: {"label": a.label, "overrides": a.overrides} for a in arm_list},
                   "settings": base, "table": table}
