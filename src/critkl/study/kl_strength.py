"""``kl-strength``: the dose–response of the KL coefficient α, standard vs prioritized KL, plus no KL.

The paper (§5.3, Fig. 4) compares the two KL terms at one α = 5. Whether the prioritized weight can
matter depends on how hard the KL pulls: when ``α·‖∇L_KL‖`` dwarfs the policy gradient, every update
mostly undoes the drift and freeing the few critical tokens may not show; when it is far below, both
arms behave like no KL. This experiment runs both terms over a log grid of α spanning those regimes
(the gradient ratio is logged per collect), with β calibrated to the start model
(:mod:`critkl.calibration`), and judges the paper's claim at the paper's α with enough seeds to say
REPRODUCED, REFUTED or INCONCLUSIVE (:mod:`critkl.study.power`).

Each arm is reported on both sides of the trade-off:

- exploration gained: held-out N+1 accuracy at the end minus at the start (sampled at the policy
  temperature on one fixed problem set, and the noise-free probability of the gold solution);
- drift prevented: in-distribution 1..N accuracy, and the exact KL to the reference along gold
  scratchpads on critical vs other tokens.

>>> [a.name for a in arms({"kl": "prioritized", "beta": 400.0}, alphas=(0.1, 5.0), focal=5.0)]
['no-kl', 'standard-a0.1', 'prioritized-a0.1', 'standard-a5', 'prioritized-a5']
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .aggregate import HELDOUT, paired, read_log, run_summary, t_half_width
from .arm import Arm
from .power import judge, power_sentence
from .report import MIN_SEEDS_FOR_BANDS, new_figure, save_figure

ALPHAS = (0.01, 0.1, 1.0, 5.0)
FOCAL_ALPHA = 5.0  # the paper's α (Table 3): the comparison the claim is about
GRID_SEEDS = 4  # seeds of the arms away from the focal α (and of no KL)
PAPER_WEIGHT = {"kl": "prioritized", "certainty": "shannon", "certainty_temperature": 1.0, "beta": 150.0}  # Eq. 2
EFFECT = 0.02  # the smallest prioritized − standard held-out gain that would matter (2 points of accuracy)
P_GOLD = "heldout_p_gold"


def _alpha_name(alpha: float) -> str:
    return f"{alpha:g}"


def arms(weight: dict, alphas=ALPHAS, focal: float = FOCAL_ALPHA, grid_seeds: int = GRID_SEEDS,
         paper_weight: dict | None = None) -> list[Arm]:
    """No KL, then standard and prioritized KL at each α; ``weight`` holds the prioritized arms'
    certainty settings and β (e.g. :meth:`critkl.calibration.Calibration.overrides`). With
    ``paper_weight``, one more prioritized arm at the ``focal`` α uses those settings (the paper's β).
    Arms away from the ``focal`` α, and no KL, run at most ``grid_seeds`` seeds."""
    if focal not in alphas:
        raise ValueError(f"the focal α {focal} must be one of the grid {alphas}")
    if any(not a > 0 for a in alphas):
        raise ValueError(f"every α of the grid must be > 0, got {alphas}")
    prio = {k: v for k, v in weight.items() if k != "kl"}
    beta = prio.get("beta")
    out = [Arm("no-kl", "no KL (α=0)", {"kl": "none", "alpha": 0.0}, max_seeds=grid_seeds)]
    for a in alphas:
        cap = None if a == focal else grid_seeds
        name = _alpha_name(a)
        out.append(Arm(f"standard-a{name}", f"standard KL (α={name})", {"kl": "standard", "alpha": a},
                       max_seeds=cap))
        out.append(Arm(f"prioritized-a{name}", f"prioritized KL (α={name}, β={beta:g})",
                       {"kl": "prioritized", "alpha": a, **prio}, max_seeds=cap))
        if paper_weight is not None and a == focal:
            paper = {k: v for k, v in paper_weight.items() if k != "kl"}
            out.append(Arm(f"prioritized-paper-a{name}", f"prioritized KL (α={name}, paper's β={paper['beta']:g})",
                           {"kl": "prioritized", "alpha": a, **paper}))
    return out


def series(arm_name: str) -> str:
    """The line an arm belongs to in the dose–response plot.

    >>> series("standard-a0.1"), series("prioritized-a5"), series("prioritized-paper-a5"), series("no-kl")
    ('standard', 'prioritized', 'prioritized-paper', 'no-kl')
    """
    return arm_name.rsplit("-a", 1)[0] if "-a" in arm_name else arm_name


# ----------------------------------------------------------------------------- per-run figures
def _median_of(log: list[dict], key: str) -> float:
    vals = [r[key] for r in log if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return float(np.median(vals)) if vals else math.nan


def run_figures(records: list[dict]) -> dict:
    """One run's figures from all its log records (collects and evaluations)."""
    evals = [r for r in records if HELDOUT in r]
    acc, gold = run_summary(evals, HELDOUT), run_summary(evals, P_GOLD)
    return {
        "start": acc["start"], "end": acc["end"], "gain": acc["end"] - acc["start"],
        "gold_start": gold["start"], "gold_end": gold["end"], "gold_gain": gold["end"] - gold["start"],
        "in_dist_end": run_summary(evals, "in_dist_acc_sampled")["end"],
        "in_dist_gold_end": run_summary(evals, "in_dist_p_gold")["end"],
        "kl_critical_end": run_summary(evals, "kl_ref_critical")["end"],
        "kl_other_end": run_summary(evals, "kl_ref_other")["end"],
        "grad_ratio": _median_of(records[2:], "grad_ratio_kl_policy"),  # from the 2nd collect (1st: no drift)
        "w_critical_p50": _median_of(records, "w_critical_p50"),
        "w_other_p50": _median_of(records, "w_other_p50"),
        "w_other_start": first_weight(records),
    }


def first_weight(records: list[dict]) -> float:
    """The median weight on non-critical actions of a run's first collect, sampled from the start model
    itself: the weight the settings give the reference's own states (later collects visit the policy's).

    >>> first_weight([{"heldout_acc_sampled": 0.1}, {"w_other_p50": 0.9}, {"w_other_p50": 0.1}])
    0.9
    """
    return next((float(r["w_other_p50"]) for r in records if "w_other_p50" in r), math.nan)


def _mean_ci(values) -> tuple[float, float]:
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=float)
    return (float(v.mean()), t_half_width(v)) if v.size else (math.nan, math.nan)


FIELDS = ("gain", "gold_gain", "in_dist_end", "in_dist_gold_end", "kl_critical_end", "kl_other_end",
          "grad_ratio", "w_critical_p50", "w_other_p50", "w_other_start", "start", "end")


def summarize(arm_list: list[Arm], figures: dict[str, list[dict]]) -> dict[str, dict]:
    """Per arm: α, KL mode, seeds, each figure's mean and 95% half-width, and the collapse flag."""
    from ..calibration import is_collapsed

    out = {}
    for arm in arm_list:
        runs = figures[arm.name]
        row = {"alpha": float(arm.overrides.get("alpha", 0.0)), "kl": arm.overrides.get("kl", "none"),
               "series": series(arm.name), "label": arm.label, "seeds": len(runs)}
        for f in FIELDS:
            row[f] = _mean_ci([r[f] for r in runs])
        row["collapsed"] = row["kl"] == "prioritized" and is_collapsed(row["w_other_start"][0])
        out[arm.name] = row
    return out


def compare(prio: list[dict], std: list[dict], effect: float, collapsed: bool) -> dict:
    """One prioritized arm against standard KL at the same α, paired by seed."""
    n = min(len(prio), len(std))  # seed k of both arms: same problems and sampling seeds
    pick = lambda runs, f: [r[f] for r in runs[:n]]  # noqa: E731
    diff = lambda f: np.subtract(pick(prio, f), pick(std, f))  # noqa: E731
    return {
        "collapsed": collapsed,
        "main": judge(diff("gain"), effect),
        "gold": judge(diff("gold_gain"), effect),
        "in_dist": paired(pick(prio, "in_dist_end"), pick(std, "in_dist_end")),
        "kl_other": paired(pick(prio, "kl_other_end"), pick(std, "kl_other_end")),
        "kl_critical": paired(pick(prio, "kl_critical_end"), pick(std, "kl_critical_end")),
    }


def verdicts(arm_list: list[Arm], figures: dict[str, list[dict]], focal: float = FOCAL_ALPHA,
             effect: float = EFFECT) -> dict:
    """The claims judged at the focal α, as data (the report words them): each prioritized arm there
    (β calibrated, and the paper's β when run) against standard KL."""
    a = _alpha_name(focal)
    summary = summarize(arm_list, figures)
    std = figures[f"standard-a{a}"]
    out = {"focal_alpha": focal, "effect": effect}
    for key, arm in (("calibrated", f"prioritized-a{a}"), ("paper", f"prioritized-paper-a{a}")):
        if arm in figures:
            out[key] = compare(figures[arm], std, effect, summary[arm]["collapsed"])
    return out


# ----------------------------------------------------------------------------- plots
def plot_dose_response(summary: dict[str, dict], path: Path, focal: float = FOCAL_ALPHA) -> None:
    """Six panels against α (log axis): exploration gained (sampled accuracy, p(gold)), drift prevented
    (in-distribution accuracy, KL to the reference on critical vs other tokens), the KL-to-policy gradient
    ratio, and the prioritized weight on critical vs other tokens."""
    fig, axes = new_figure(2, 3, 16 / 3, 4)
    colors = {"standard": "tab:blue", "prioritized": "tab:orange", "prioritized-paper": "tab:green"}
    offset = {"standard": 0.94, "prioritized": 1.0, "prioritized-paper": 1.06}  # side by side: none hides another
    names = {"standard": "standard KL", "prioritized": "prioritized KL (β calibrated)",
             "prioritized-paper": "prioritized KL (paper's β)"}
    panels = [("gain", "held-out N+1 accuracy (sampled), end − start", False),
              ("gold_gain", "held-out p(gold solution), end − start", False),
              ("in_dist_end", "in-distribution 1..N accuracy at the end", False),
              ("kl_other_end", "KL(π ‖ π_ref) on gold scratchpads: other (—), critical (--)", True),
              ("grad_ratio", "α·‖∇KL‖ / ‖∇policy loss‖ (median over collects)", True),
              ("w_other_p50", "median weight w: other (—), critical (--) tokens", True)]
    nokl = summary.get("no-kl")
    for ax, (field, title, log_y) in zip(axes.flat, panels, strict=True):
        for kl in colors:
            rows = sorted((r for r in summary.values() if r["series"] == kl), key=lambda r: r["alpha"])
            if not rows:
                continue
            x = np.array([r["alpha"] for r in rows]) * offset[kl]
            if field == "w_other_p50" and kl == "standard":
                continue  # w ≡ 1
            pairs = {"kl_other_end": "kl_critical_end", "w_other_p50": "w_critical_p50"}
            for f, style, suffix in ([(field, "-o", "")] if field not in pairs else
                                     [(field, "-o", ""), (pairs[field], "--s", " (critical)")]):
                m = np.array([r[f][0] for r in rows])
                # no interval from fewer than MIN_SEEDS_FOR_BANDS seeds (a 2-seed t-interval says nothing)
                h = np.array([r[f][1] if r["seeds"] >= MIN_SEEDS_FOR_BANDS else 0.0 for r in rows])
                ax.errorbar(x, m, yerr=h, fmt=style, color=colors[kl], capsize=3, ms=4,
                            label=f"{names[kl]}{suffix}")
        if nokl is not None and field in ("gain", "gold_gain", "in_dist_end"):
            m, h = nokl[field]
            ax.axhline(m, color="grey", ls=":", label="no KL (α=0)")
            if nokl["seeds"] >= MIN_SEEDS_FOR_BANDS:
                ax.axhspan(m - h, m + h, color="grey", alpha=0.15)
        if field == "grad_ratio":
            ax.axhline(1.0, color="black", lw=0.8, ls=":")
            ax.text(0.02, 1.1, "KL pull = reward pull", fontsize=7, transform=ax.get_yaxis_transform())
        if field in ("gain", "gold_gain"):
            ax.axhline(0.0, color="black", lw=0.8)
        ax.axvline(focal, color="black", lw=0.6, ls="--", alpha=0.5)
        ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel("KL coefficient α")
        ax.set_ylabel({"gain": "accuracy gain", "gold_gain": "probability gain", "in_dist_end": "accuracy",
                       "kl_other_end": "KL (nats per token)", "grad_ratio": "gradient-norm ratio",
                       "w_other_p50": "weight w"}[field])
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    save_figure(fig, path, f"KL strength: mean over seeds ± 95% t-interval (from {MIN_SEEDS_FOR_BANDS} seeds on; "
                "dashed line: the paper's α)")


def plot_weights(settings: list[tuple[str, np.ndarray, np.ndarray]], path: Path) -> None:
    """Histograms of log10 w on critical vs other gold tokens, one panel per weight setting."""
    fig, axes = new_figure(1, len(settings), 5.5, 3.8)
    bins = np.linspace(-8, 0, 33)
    for ax, (title, w_crit, w_other) in zip(axes[0], settings, strict=True):
        # side by side in each bin, so neither series hides the other
        lws = [np.log10(np.clip(w, 1e-8, 1.0)) for w in (w_other, w_crit)]
        ax.hist(lws, bins=bins, weights=[np.full(x.size, 1.0 / max(x.size, 1)) for x in lws],
                color=["tab:blue", "tab:red"], edgecolor="none",
                label=[f"{name} (median w = {np.median(w):.2g})" for name, w in
                       (("non-critical tokens", w_other), ("critical tokens", w_crit))])
        ax.axvline(np.log10(0.5), color="black", ls=":", lw=0.8)
        ax.set_xlabel("log10 w  (values below 1e-8 are drawn at -8)")
        ax.set_ylabel("share of tokens")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    save_figure(fig, path, "Prioritized-KL weight w = c^β along the start model's gold scratchpads")


# ----------------------------------------------------------------------------- the study
WEIGHT_KEYS = ("certainty", "certainty_temperature", "beta")
CONTRASTS = (("official code: max-prob certainty at T = 4, β = 150", "max_prob", 4.0, 150.0),
             ("paper: Shannon certainty (Eq. 2) at T = 1, β = 150", "shannon", 1.0, 150.0))


def calibrate_start(base: dict, problems: int = 256) -> dict:
    """β calibrated to the start model (:mod:`critkl.calibration`), with the paper's and the official
    settings for contrast and the weights for the histograms; ``--set`` values of the certainty
    settings or β replace the calibrated ones."""
    from ..calibration import (
        at_beta,
        calibrate_table,
        gold_certainties,
        recommend,
        rl_problems,
        weights,
    )
    from ..kl import CERTAINTY_KINDS
    from ..model import load_model, max_digits_of

    lm, _ = load_model(base["model"])
    n = base.get("pretrained_digits") or max_digits_of(lm)
    digits = base.get("train_digits") or n + 1
    temps = {1.0, 2.0, 4.0}
    if "certainty_temperature" in base:  # a --set temperature is measured too
        temps.add(float(base["certainty_temperature"]))
    temps = sorted(temps)
    table = gold_certainties(lm, rl_problems(n, digits, problems), n, CERTAINTY_KINDS, temps)
    rows = calibrate_table(table)
    best = recommend(rows)
    chosen = best.overrides()
    user = {k: base[k] for k in WEIGHT_KEYS if k in base}
    chosen.update(user)
    crit, other = table[(chosen["certainty"], float(chosen["certainty_temperature"]))]
    used = at_beta(chosen["certainty"], chosen["certainty_temperature"], chosen["beta"], crit, other)
    contrasts = [(label, at_beta(k, t, b, *table[(k, t)])) for label, k, t, b in CONTRASTS if (k, t) in table]
    hist = [(f"used here: {used.kind} at T = {used.temperature:g}, β = {used.beta:g}",
             weights(crit, used.beta), weights(other, used.beta))]
    hist += [(label, weights(table[(c.kind, c.temperature)][0], c.beta), weights(table[(c.kind, c.temperature)][1],
                                                                                c.beta)) for label, c in contrasts]
    return {"rows": rows, "recommended": best, "used": used, "user_set": sorted(user), "contrasts": contrasts,
            "weight": {**chosen, "kl": "prioritized"}, "histograms": hist, "problems": problems,
            "digits": digits, "n": n}


def _w(s) -> str:
    return f"{s.p10:.2g} / {s.p50:.2g} / {s.p90:.2g}"


def calibration_lines(cal: dict) -> list[str]:
    used, best = cal["used"], cal["recommended"]
    how = ("calibrated" if not cal["user_set"] else f"set by --set ({', '.join(cal['user_set'])}), not calibrated")
    lines = [f"Measured on the start model's teacher-forced gold scratchpads of {cal['problems']} RL problems of "
             f"{cal['digits']} digits (N = {cal['n']}); critical = the official critical positions (scratchpad "
             "lines 1–3, the characters beyond N). Rule: β = ln 0.5 / ln c₁₀, so that 90% of the non-critical "
             "tokens keep w ≥ 0.5; recommended = the setting with the lowest median w on critical tokens. "
             f"**Used by the prioritized arms: {used.kind} certainty at T = {used.temperature:g}, β = "
             f"{used.beta:g}** ({how}).", "",
             "| certainty | T | β | w critical p10 / p50 / p90 | w other p10 / p50 / p90 | |",
             "|---|---|---|---|---|---|"]
    for r in cal["rows"]:
        mark = "recommended" if r == best else ("" if r.usable else "certainty saturates: no β")
        lines.append(f"| {r.kind} | {r.temperature:g} | {r.beta:g} | {_w(r.critical)} | {_w(r.other)} | {mark} |")
    for label, c in cal["contrasts"]:
        flag = " — **collapsed: not a test of the prioritized KL**" if c.other.p50 < 0.5 else ""
        lines.append(f"| {c.kind} | {c.temperature:g} | {c.beta:g} | {_w(c.critical)} | {_w(c.other)} | "
                     f"{label}{flag} |")
    return lines + ["", "![weights](weights.png)", ""]


def _ci(x: tuple[float, float], digits: int = 3) -> str:
    m, h = x
    return "n/a" if not math.isfinite(m) else f"{m:+.{digits}f} ± {h:.{digits}f}"


def _g(x: tuple[float, float]) -> str:
    m, h = x
    return "n/a" if not math.isfinite(m) else f"{m:.2g} ± {h:.1g}"


def table_lines(summary: dict[str, dict]) -> list[str]:
    lines = ["| arm | α | seeds | α·‖∇KL‖/‖∇PG‖ | held-out gain (sampled) | held-out gain (p gold) | "
             "in-dist. acc. end | KL critical | KL other | median w other / critical |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary.values():
        w = (f"{r['w_other_p50'][0]:.2g} / {r['w_critical_p50'][0]:.2g}" if r["kl"] == "prioritized" else "1 / 1"
             if r["kl"] == "standard" else "–")
        flag = " **(collapsed: not a test of the prioritized KL)**" if r["collapsed"] else ""
        lines.append(f"| {r['label']}{flag} | {r['alpha']:g} | {r['seeds']} | {_g(r['grad_ratio'])} | "
                     f"{_ci(r['gain'])} | {_ci(r['gold_gain'])} | {_ci(r['in_dist_end'], 2)} | "
                     f"{_g(r['kl_critical_end'])} | {_g(r['kl_other_end'])} | {w} |")
    return lines


def _compare_lines(c: dict, what: str, a: str) -> list[str]:
    if c["collapsed"]:
        head = (f"**{what} beats standard KL at α = {a}: NOT A TEST OF THE PRIORITIZED KL** — its weight "
                "collapsed (median w on non-critical tokens < 0.5), so it ran with almost no KL.")
    else:
        head = (f"**{what} beats standard KL at α = {a} (held-out N+1 accuracy gain): "
                f"{power_sentence(c['main'], 'prioritized − standard')}.**")
    return [
        f"- {head}",
        f"  - The same on the noise-free probability of the gold solution: "
        f"{power_sentence(c['gold'], 'prioritized − standard')}.",
        f"  - The KL's job on ordinary tokens, prioritized − standard at the end (paired): in-distribution "
        f"accuracy {c['in_dist']['mean']:+.3f} ± {c['in_dist']['half']:.3f}; KL to the reference on "
        f"non-critical tokens {c['kl_other']['mean']:+.2g} ± {c['kl_other']['half']:.1g}, on critical tokens "
        f"{c['kl_critical']['mean']:+.2g} ± {c['kl_critical']['half']:.1g} nats per token.",
    ]


def verdict_lines(v: dict, summary: dict) -> list[str]:
    a = _alpha_name(v["focal_alpha"])
    lines = []
    if "calibrated" in v:
        lines += _compare_lines(v["calibrated"], "Prioritized KL, β calibrated to the model,", a)
    if "paper" in v:
        lines += _compare_lines(v["paper"], "Prioritized KL with the paper's β", a)
    gains = "; ".join(f"{r['label']} {_ci(r['gain'])}" for r in summary.values() if r["alpha"] == v["focal_alpha"])
    return lines + [f"- Held-out accuracy over the start model at α = {a} (end − start): {gains}."]


def study(base: dict, seeds: int, out: Path, jobs: int, console=None) -> tuple[list[str], dict]:
    """Calibrate β, run every arm × seed (parallel, resumable), and build the report's sections."""
    from ..calibration import gold_certainties  # noqa: F401  (imported early: fail before any run)
    from .aggregate import critical_keys
    from .report import plot_accuracy, plot_critical
    from .runner import run_all

    taken = sorted({"kl", "alpha"} & set(base))
    if taken:
        raise ValueError(f"kl-strength sets {', '.join(taken)} per arm itself; drop --set {taken[0]}")
    cal = calibrate_start(base)
    out.mkdir(parents=True, exist_ok=True)
    plot_weights(cal["histograms"], out / "weights.png")
    arm_list = arms(cal["weight"], ALPHAS, FOCAL_ALPHA, GRID_SEEDS, PAPER_WEIGHT)
    runs = run_all(base, arm_list, seeds, out, jobs=jobs, console=console)
    records = {a.name: [] for a in arm_list}
    for arm, _, folder in runs:
        records[arm.name].append(read_log(folder, evaluations_only=False))
    figures = {k: [run_figures(r) for r in v] for k, v in records.items()}
    summary = summarize(arm_list, figures)
    v = verdicts(arm_list, figures, FOCAL_ALPHA, EFFECT)
    plot_dose_response(summary, out / "dose_response.png", FOCAL_ALPHA)
    a = _alpha_name(FOCAL_ALPHA)
    def evaluations(*names: str) -> dict:  # each arm's runs, reduced to their evaluation records
        return {n: [[r for r in log if HELDOUT in r] for log in records[n]] for n in names if n in records}

    focal = evaluations(f"standard-a{a}", f"prioritized-a{a}", f"prioritized-paper-a{a}", "no-kl")
    labels = {arm.name: arm.label for arm in arm_list}
    plot_accuracy(focal, labels, out / "accuracy.png", f"kl-strength at α = {a}",
                  extra=(("heldout_p_gold", "held-out p(gold solution)"),))
    keys = [k for k in critical_keys([lg for x in focal.values() for lg in x]) if k.endswith("comma")]
    plot_critical(focal, labels, keys, out / "critical_tokens.png", f"α = {a}")
    others = []  # the Fig. 4 analogue at every other α of the grid, with no KL for reference
    for alpha in ALPHAS:
        name = _alpha_name(alpha)
        if alpha == FOCAL_ALPHA or not keys:
            continue
        grid = evaluations(f"standard-a{name}", f"prioritized-a{name}", "no-kl")
        plot_critical(grid, labels, keys, out / f"critical_tokens_a{name}.png", f"α = {name}")
        others.append(f"![critical tokens at α = {name}](critical_tokens_a{name}.png)")
    minutes = [max((r.get("wall_s") or 0.0) for r in log) / 60 for v_ in records.values() for log in v_ if log]
    lines = ["## Verdict", ""] + verdict_lines(v, summary) + [
        "", f"{len(runs)} runs: {sum(arm.seeds(seeds) for arm in arm_list if arm.max_seeds is None)} at "
        f"α = {a} ({seeds} seeds per arm, paired by seed: the same training problems and sampling seeds), "
        f"{GRID_SEEDS} seeds per arm elsewhere; {min(minutes):.1f}–{max(minutes):.1f} min per run, "
        f"{sum(minutes):.0f} run-minutes in all by the runs' own clocks (interrupted invocations included). Held-out: "
        f"{base.get('test_episodes')} fixed N+1 problems, the same for every run, evaluated every "
        f"{base.get('eval_every')} collects; *end* = mean of a run's last 3 evaluations. Stated effect δ = "
        f"{EFFECT} ({EFFECT * 100:g} points of held-out accuracy).", "",
        "## β calibrated to the start model", ""] + calibration_lines(cal) + [
        "## Dose–response over α", "", "![dose-response](dose_response.png)", ""] + table_lines(summary) + [
        "", "± = 95% t-interval over seeds. *p gold* = the probability of writing the whole gold scratchpad and "
        "answer (teacher-forced, no sampling noise). KL = exact KL(π ‖ π_ref) at the policy temperature along "
        "gold scratchpads of the held-out problems, nats per token. The gradient ratio is measured on the first "
        "minibatch of each collect (from the second collect on; for no KL it is 0 by definition).", "",
        f"## At the paper's α = {a}", "", "![accuracy](accuracy.png)", ""]
    if keys:
        lines += ["![critical tokens](critical_tokens.png)", "", "### Critical tokens at the other α", ""]
        lines += [x for o in others for x in (o, "")]
    lines += ["Per-run logs: `runs/<arm>/seed<k>/log.jsonl` under the output folder."]
    data = {"calibration": {"used": cal["used"].as_dict(), "rows": [r.as_dict() for r in cal["rows"]],
                            "contrasts": {lab: c.as_dict() for lab, c in cal["contrasts"]},
                            "user_set": cal["user_set"]},
            "settings": base, "arms": {x.name: {"label": x.label, "overrides": x.overrides,
                                                "seeds": x.seeds(seeds)} for x in arm_list},
            "summary": summary, "verdicts": v, "figures": figures, "logs": records,
            "constants": {"alphas": list(ALPHAS), "focal_alpha": FOCAL_ALPHA, "grid_seeds": GRID_SEEDS,
                          "effect": EFFECT}}
    return lines, data
