"""``mechanism``: why does prioritizing the KL help? A preregistered test in the regime-pilot's regime.

The prioritized KL (paper Eq. 1) gives each token the weight ``w = J_ref^β``: the reference's certainty
raised to a large power, near 0 on the few tokens where the reference hesitates (the critical tokens)
and near 1 elsewhere. Two things change at once against standard KL: *where* the brake is released
(placement) and *how much* brake is left in all (the mean weight, an effective α below α). The arms
separate them, all at one α chosen in the pilot (:data:`ALPHA`):

- **A** standard KL;
- **B** prioritized KL, the paper's β (150, Shannon certainty at T = 1);
- **C** = B with its weights shuffled across the generated tokens of each collect
  (``weight_shuffle``): the same weights, the same distribution and mean, no alignment with
  critical tokens;
- **D** standard KL at B's effective strength: ``α_D = α · ω``, ``ω`` the KL-weighted mean weight of
  B (``Σ w·k2 / Σ k2`` per collect, the median over the collects of B's first :data:`MATCH_SEEDS`
  seeds; :func:`matched_alpha`), run after B;
- **E** no KL; and what users pick instead for token-level exploration, each with A's standard KL:
  **F** the policy gradient on the 20% highest-entropy tokens only (Wang et al. 2025; TRL's
  ``top_entropy_quantile``), **G** PPO with clip-higher (ε = 0.2, ε_high = 0.28; Yu et al. 2025;
  TRL's ``epsilon_high``) in one pass over each collect.

Primary metric: held-out p(gold) (the exact probability of the gold scratchpad at the policy
temperature, on a fixed set of :data:`EVAL` ``test_episodes`` problems) at the last evaluation minus
the start model's. Primary contrasts: B − A (does prioritizing help?), B − C (is it the placement?),
B − D (is it more than a weaker KL?), paired by seed, Holm-corrected (:func:`critkl.study.power.holm`),
judged against :data:`EFFECT`. Everything else is secondary and reported without correction.

>>> [a.name for a in arms(alpha_d=None)]
['A-standard', 'B-prioritized', 'C-shuffled', 'E-no-kl', 'F-top-entropy', 'G-clip-higher']
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .aggregate import HELDOUT, read_log
from .arm import Arm
from .power import binomial_se, gain_interval, holm, judge
from .regime_pilot import GROUP

P_GOLD = "heldout_p_gold"
ALPHA = 0.1  # from the regime pilot (docs/critkl-results.md, "A regime where RL learns")
EFFECT = 0.03  # δ: the smallest p(gold) gain difference that would matter
SEEDS = {"A": 16, "B": 16, "C": 16, "D": 16, "E": 4, "F": 4, "G": 4}
MATCH_SEEDS = 4  # B's seeds whose collects set D's α
PAPER_BETA = {"certainty": "shannon", "certainty_temperature": 1.0, "beta": 150.0}
# the pilot's regime (group baseline, Adam ε 1e-3, 960 episodes) with a larger held-out set: p(gold) exact on
# 1,024 problems at every evaluation, sampled accuracy on 256 of them in between and on all 1,024 at the end
REGIME = {**GROUP, "adam_eps": 1e-3, "episodes": 960}
EVAL = {"test_episodes": 1024, "sampled_test_episodes": 256, "eval_every": 15}
SETTINGS = {**REGIME, **EVAL}  # over the cpu scale's; --set still overrides them
CONTRASTS = (("B-A", "B-prioritized", "A-standard"), ("B-C", "B-prioritized", "C-shuffled"),
             ("B-D", "B-prioritized", "D-matched"))


def matched_alpha(alpha: float, logs: list[list[dict]]) -> float:
    """``α · ω`` with ``ω`` the median over every collect of ``logs`` of the KL-weighted mean weight
    ``kl_weighted / kl`` (both k2 estimates on the collect's tokens, as the loss uses them).

    >>> round(matched_alpha(0.1, [[{"kl": 0.02, "kl_weighted": 0.004}, {"kl": 0.01, "kl_weighted": 0.003}],
    ...                            [{"kl": 0.04, "kl_weighted": 0.012}]]), 4)
    0.03
    """
    ratios = [r["kl_weighted"] / r["kl"] for log in logs for r in log
              if r.get("kl", 0) > 0 and math.isfinite(r.get("kl_weighted", math.nan))]
    if not ratios:
        raise ValueError("no collect with a positive KL in the prioritized arm's logs: cannot match its strength")
    return float(alpha * np.median(ratios))


def arms(alpha: float = ALPHA, alpha_d: float | None = None) -> list[Arm]:
    """The arms (D only once ``alpha_d`` is known)."""
    std = {"kl": "standard", "alpha": alpha}
    prio = {"kl": "prioritized", "alpha": alpha, **PAPER_BETA}
    out = [Arm("A-standard", f"A standard KL (α={alpha:g})", std, SEEDS["A"]),
           Arm("B-prioritized", f"B prioritized KL (α={alpha:g}, β=150)", prio, SEEDS["B"]),
           Arm("C-shuffled", "C = B, weights shuffled across tokens", {**prio, "weight_shuffle": True}, SEEDS["C"])]
    if alpha_d is not None:
        out.append(Arm("D-matched", f"D standard KL at B's strength (α={alpha_d:.3g})",
                       {"kl": "standard", "alpha": alpha_d}, SEEDS["D"]))
    out += [Arm("E-no-kl", "E no KL", {"kl": "none", "alpha": 0.0}, SEEDS["E"]),
            Arm("F-top-entropy", "F standard KL, PG on the top-20% entropy tokens",
                {**std, "top_entropy_quantile": 0.2}, SEEDS["F"]),
            Arm("G-clip-higher", "G standard KL, PPO clip-higher (0.2/0.28)",
                {**std, "algo": "ppo", "ppo_epochs": 1, "ppo_clip": 0.2, "ppo_clip_high": 0.28}, SEEDS["G"])]
    return out


def run_figures(log: list[dict], n_test: int) -> dict:
    """One run: p(gold) and accuracy at the start and the end (the last evaluation), the gradient ratio
    (median over collects), the exact KL to the reference on gold states at the end (critical / other),
    the exact KL on sampled states (mean over the last 5 collects), the weight medians."""
    evals = [r for r in log if HELDOUT in r]
    collects = [r for r in log if "grad_ratio_kl_policy" in r]
    last5 = collects[-5:]

    def med(key, recs):
        v = [r[key] for r in recs if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        return float(np.median(v)) if v else math.nan

    def mean(key, recs):
        v = [r[key] for r in recs if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        return float(np.mean(v)) if v else math.nan

    return {"start_gold": evals[0][P_GOLD], "end_gold": evals[-1][P_GOLD], "start_acc": evals[0][HELDOUT],
            "end_acc": evals[-1][HELDOUT], "gold_gain": evals[-1][P_GOLD] - evals[0][P_GOLD],
            "acc_gain": evals[-1][HELDOUT] - evals[0][HELDOUT], "n_test": n_test,
            "grad_ratio": med("grad_ratio_kl_policy", collects),
            "kl_gold_critical": evals[-1].get("kl_ref_critical", math.nan),
            "kl_gold_other": evals[-1].get("kl_ref_other", math.nan),
            "kl_sampled_critical": mean("kl_exact_critical", last5),
            "kl_sampled_other": mean("kl_exact_other", last5),
            "w_critical_p50": med("w_critical_p50", collects), "w_other_p50": med("w_other_p50", collects),
            "in_dist_end": evals[-1].get("in_dist_acc_sampled", math.nan),
            "minutes": max((r.get("wall_s") or 0.0) for r in log) / 60}


def _mean_half(values) -> tuple[float, float]:
    from .aggregate import t_half_width

    v = [x for x in values if math.isfinite(x)]
    return (float(np.mean(v)), t_half_width(v)) if v else (math.nan, math.nan)


def summarize(arm_list: list[Arm], figures: dict[str, list[dict]]) -> dict:
    out = {}
    for arm in arm_list:
        figs = figures[arm.name]
        f0 = figs[0]
        out[arm.name] = {
            "label": arm.label, "seeds": len(figs),
            "gold_gain": gain_interval([f["end_gold"] for f in figs], f0["start_gold"]),
            "acc_gain": gain_interval([f["end_acc"] for f in figs], f0["start_acc"],
                                      binomial_se(f0["start_acc"], f0["n_test"])),
            **{k: _mean_half([f[k] for f in figs]) for k in (
                "grad_ratio", "kl_gold_critical", "kl_gold_other", "kl_sampled_critical", "kl_sampled_other",
                "w_critical_p50", "w_other_p50", "in_dist_end", "minutes")}}
    return out


def contrasts(figures: dict[str, list[dict]], effect: float = EFFECT) -> dict:
    """The primary contrasts (Holm over the three) and the secondary ones (each against A, uncorrected)."""
    def diff(a: str, b: str) -> list[float]:
        n = min(len(figures[a]), len(figures[b]))  # seed k of both arms: the same problems and sampling seeds
        return [figures[a][i]["gold_gain"] - figures[b][i]["gold_gain"] for i in range(n)]

    primary = holm({name: diff(a, b) for name, a, b in CONTRASTS if a in figures and b in figures}, effect)
    secondary = {f"{name}−A": judge(diff(name, "A-standard"), effect) for name in figures
                 if name != "A-standard"}
    return {"primary": primary, "secondary": secondary}


def _pm(g: dict) -> str:
    half = g.get("half", math.nan)
    return f"{g['mean']:+.3f} ± {half:.3f}" if math.isfinite(half) else f"{g['mean']:+.3f}"


def _mh(x: tuple[float, float], digits: int = 3) -> str:
    return f"{x[0]:.{digits}f} ± {x[1]:.{digits}f}" if math.isfinite(x[1]) else f"{x[0]:.{digits}f}"


def design_lines(alpha: float = ALPHA, effect: float = EFFECT) -> list[str]:
    """The preregistered design, as the report states it before any result."""
    seeds = ", ".join(f"{k} {v}" for k, v in SEEDS.items())
    return [
        "**Design (fixed before the runs; seeds are never added after a look at a verdict).**",
        f"Arms at α = {alpha:g} (chosen in the regime pilot), seeds {seeds}; seed k of every arm shares the "
        "problems and sampling seeds. Primary metric: held-out p(gold) at the last evaluation minus the start "
        f"model's, exact on {EVAL['test_episodes']:,} fixed problems. Primary contrasts: B − A, B − C, B − D, "
        f"paired by seed, Holm-corrected over the three (exact sign-flip p-values; intervals at the Holm step's "
        f"level). δ = {effect:g}. Verdicts: REPRODUCED when the corrected interval lies above 0 (and whether it "
        "clears δ), REFUTED when it excludes δ without lying above 0, INCONCLUSIVE otherwise. D's α is "
        f"α × the median KL-weighted mean weight of the collects of B's first {MATCH_SEEDS} seeds (matched by "
        "KL-weighted weight, not by gradient ratio), computed before D starts. Everything else is secondary, uncorrected. "
        "Budget cut decided before the runs: E, F and G at 4 seeds, and no arm with β calibrated to the start "
        "model (the kl-strength study measured it at α = 5: worse than standard KL)."]


def study(base: dict, seeds: int, out: Path, jobs: int, console=None) -> tuple[list[str], dict]:
    """Run A, B, C, E, F, G, then D at B's strength (parallel, resumable); report.

    ``seeds`` caps every arm (the design's counts are :data:`SEEDS`; a smaller number is a pilot)."""
    from .report import plot_accuracy
    from .runner import run_all

    first = arms(ALPHA, None)
    runs = run_all(base, first, seeds, out, jobs=jobs, console=console)
    logs = {a.name: [] for a in first}
    for arm, _, folder in runs:
        logs[arm.name].append(read_log(folder, evaluations_only=False))
    # from B's first MATCH_SEEDS seeds only, so that adding seeds later never changes D's α (nor its runs)
    alpha_d = matched_alpha(ALPHA, [[r for r in lg if "kl" in r] for lg in logs["B-prioritized"][:MATCH_SEEDS]])
    d_arm = next(a for a in arms(ALPHA, alpha_d) if a.name == "D-matched")
    for arm, _, folder in run_all(base, [d_arm], seeds, out, jobs=jobs, console=console):
        logs.setdefault(arm.name, []).append(read_log(folder, evaluations_only=False))
    arm_list = [*first[:3], d_arm, *first[3:]]
    n_test = int(base["test_episodes"])
    figures = {a.name: [run_figures(lg, n_test) for lg in logs[a.name]] for a in arm_list}
    table = summarize(arm_list, figures)
    verdict = contrasts(figures)
    labels = {a.name: a.label for a in arm_list}
    plot_accuracy({k: [[r for r in lg if HELDOUT in r] for lg in logs[k]] for k in ("A-standard", "B-prioritized",
                                                                                   "C-shuffled", "D-matched")},
                  labels, out / "accuracy.png", f"mechanism at α = {ALPHA:g}")
    lines = design_lines() + ["", f"B's KL-weighted mean weight: {alpha_d / ALPHA:.3f}, so D runs at α = {alpha_d:.4g}.",
                              "", "| arm | seeds | p(gold) gain | accuracy gain | α·‖∇KL‖/‖∇PG‖ | exact KL gold, "
                              "critical / other | exact KL sampled, critical / other | w median, critical / other | "
                              "in-dist. end | min/run |", "|---|---|---|---|---|---|---|---|---|---|"]
    for a in arm_list:
        t = table[a.name]
        lines.append(f"| {a.label} | {t['seeds']} | {_pm(t['gold_gain'])} | {_pm(t['acc_gain'])} | "
                     f"{t['grad_ratio'][0]:.3g} | {t['kl_gold_critical'][0]:.4f} / {t['kl_gold_other'][0]:.4f} | "
                     f"{t['kl_sampled_critical'][0]:.4f} / {t['kl_sampled_other'][0]:.4f} | "
                     f"{t['w_critical_p50'][0]:.3g} / {t['w_other_p50'][0]:.3g} | {t['in_dist_end'][0]:.3f} | "
                     f"{t['minutes'][0]:.1f} |")
    from .power import power_sentence

    lines += ["", "**Primary contrasts (p(gold) gain, Holm over three):**", ""]
    for name, j in verdict["primary"].items():
        lines.append(f"- {name}: {power_sentence(j, name)}; sign-flip p = {j['p']:.4f}, Holm p = {j['p_holm']:.4f}")
    lines += ["", "Secondary (each arm − A, uncorrected, 95%):", ""]
    lines += [f"- {name}: {power_sentence(j, name)}" for name, j in verdict["secondary"].items()]
    lines += ["", "![p(gold) and accuracy](accuracy.png)", "",
              "Per-run logs: `runs/<arm>/seed<k>/log.jsonl` under the output folder."]
    return lines, {"design": {"alpha": ALPHA, "effect": EFFECT, "seeds": SEEDS, "eval": EVAL, "regime": REGIME},
                   "alpha_d": alpha_d, "table": table, "contrasts": verdict,
                   "figures": figures}
