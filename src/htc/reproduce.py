"""``htc reproduce``: the paper's comparison on HWV — every loss × decoder × metric over seeds.

For each seed, every loss (BCE, conditional sigmoid, conditional softmax, logit-adjusted conditional
softmax with τ ∈ {0.5, 1}, leaf softmax, CHAMP) trains the same head on the same encoder features;
its node marginals on the official test set are decoded with every decoder (threshold 0.5,
top-down 0.5, greedy leaf, argmax leaf, top-down with a threshold tuned on dev, optimal hF1, the
optimal decoder that picks single- or multi-path decoding from the marginals, and optimal hF1 after
temperature scaling fit on dev: :mod:`htc.calibration`) and scored with every metric. The report
gives mean ± 95% t-interval over seeds, hF1-against-threshold curves, a per-depth breakdown, the
ranking of the losses under each metric × decoder, and the findings stated with numbers.

The train/dev split of HWV is fixed (seed 0; the official train file is missing); seeds vary the
model initialisation and data order.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from htc.calibration import fit_temperature, predict_logits, scaled_marginals
from htc.data import Corpus
from htc.datasets import load_hwv
from htc.decoding import (
    decode,
    expected_hfbeta,
    multi_path_evidence,
    top_down_curve,
    tune_threshold,
)
from htc.decoding.path_model import MAJORITY, MARGIN
from htc.intervals import MIN_SEEDS_FOR_BANDS, style
from htc.losses import SINGLE_PATH_LOSSES, HierarchicalLoss
from htc.metrics import hierarchical_precision_recall_fscore, hierarchical_scores_by_depth, report
from htc.progress import Progress, duration
from htc.taxonomy import Taxonomy
from htc.training import TrainConfig, Trainer

LOSS_RUNS = (("bce", "bce", {}), ("cond_sigmoid", "conditional_sigmoid", {}),
             ("cond_softmax", "conditional_softmax", {}),
             ("cond_softmax_la_0.5", "conditional_softmax_la", {"tau": 0.5}),
             ("cond_softmax_la_1", "conditional_softmax_la", {"tau": 1.0}),
             ("leaf_softmax", "leaf_softmax", {}), ("champ", "champ", {}))
# relative cost of a run per loss (measured, frozen MiniLM on HWV), for scheduling and the time announced
RUN_COST = {"champ": 1.3, "conditional_sigmoid": 1.2, "bce": 1.0}
RUN_SECONDS = 20  # one run of cost 1.0, 20 epochs at most, on one thread (frozen MiniLM features, 2-core machine)
DECODERS = ("threshold_0.5", "top_down_0.5", "greedy_leaf", "argmax_leaf", "top_down_tuned",
            "optimal_hf", "optimal", "optimal_hf_calibrated")
METRICS = {"flat_micro_f": "flat micro-F1", "flat_macro_f": "flat macro-F1",
           "h_micro_f": "micro-hF1", "h_samples_f": "per-document hF1",
           "h_macro_f": "node-macro hF1", "h_leaf_f": "leaf-macro hF1",
           "c_micro_f": "C-micro F1", "c_macro_f": "C-macro F1"}
HF = ("h_micro_f", "h_samples_f")  # the two hF1 averages the findings state side by side
WHY_HF_DIFFER = (
    "Micro-hF1 pools the node counts of all documents, so it rewards predicting more labels on "
    "long-path and uncertain documents; per-document hF1 weighs each document equally, and "
    "`optimal_hf` maximises its expectation document by document (Plaud et al. 2024), so the two "
    "can rank the decoders differently.")
THRESHOLDS = np.round(np.arange(0.02, 0.99, 0.02), 2)


@dataclass
class ReproduceConfig:
    encoder: str = "frozen"
    seeds: int = 3
    epochs: int = 20  # end_epoch of the authors' official configs
    out: str = "runs/htc-reproduce"
    data_dir: str | None = None
    model: str | None = None
    jobs: int = 0  # parallel worker processes (0: one per CPU core; finetune always runs in-process)


def t_interval(values) -> tuple[float, float]:
    """Mean and 95% t-interval half-width (0 for one seed)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()), 0.0
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def decode_all(p_dev: np.ndarray, p_test: np.ndarray, dev: Corpus, tax: Taxonomy,
               p_test_calibrated: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
    """Every decoder's test predictions and the top-down threshold tuned on dev."""
    tuned = tune_threshold(p_dev, dev.y, tax, method="top_down").threshold
    return {
        "threshold_0.5": decode(p_test, tax, "threshold", threshold=0.5),
        "top_down_0.5": decode(p_test, tax, "top_down", threshold=0.5),
        "greedy_leaf": decode(p_test, tax, "greedy_leaf"),
        "argmax_leaf": decode(p_test, tax, "argmax_leaf"),
        "top_down_tuned": decode(p_test, tax, "top_down", threshold=tuned),
        "optimal_hf": decode(p_test, tax, "optimal_hf"),
        "optimal": decode(p_test, tax, "optimal"),
        "optimal_hf_calibrated": decode(p_test_calibrated, tax, "optimal_hf"),
    }, tuned


def calibrate(loss_fn: HierarchicalLoss, z_dev: np.ndarray, z_test: np.ndarray, dev: Corpus,
              tax: Taxonomy) -> tuple[np.ndarray, dict]:
    """Test marginals at the temperature fit on dev (NLL, :func:`htc.calibration.fit_temperature`)
    and the dev diagnostics: NLL before/after, and the mean expected vs actual per-document hF1 of
    ``optimal_hf`` on dev at T = 1 and at the fitted T."""
    fit = fit_temperature(loss_fn, z_dev, dev.y)
    diag: dict = {"temperature": fit.temperature, "nll_before": fit.nll_before,
                  "nll_after": fit.nll_after}
    for key, temp in (("raw", 1.0), ("calibrated", fit.temperature)):
        p = scaled_marginals(loss_fn, z_dev, temp)
        y = decode(p, tax, "optimal_hf")
        diag[f"dev_expected_hf_{key}"] = float(expected_hfbeta(p, y, tax).mean())
        diag[f"dev_actual_hf_{key}"] = hierarchical_precision_recall_fscore(
            dev.y, y, tax, average="samples")[2]
    return scaled_marginals(loss_fn, z_test, fit.temperature), diag


def encode_splits(cfg: ReproduceConfig, hwv, console: Console) -> tuple | None:
    """Encoder features of train, dev and test, computed once for every run (``None`` for
    ``finetune``, whose encoder trains with each run). TF-IDF is fit on train only."""
    if cfg.encoder == "finetune":
        return None
    from htc.encoders import FrozenEncoder, TfidfEncoder

    tc = TrainConfig(encoder=cfg.encoder, model=cfg.model)
    if cfg.encoder == "tfidf":
        enc = TfidfEncoder(max_features=tc.tfidf_max_features, svd_dim=tc.tfidf_svd,
                           seed=0).fit(hwv.train.texts)
    else:
        enc = FrozenEncoder(cfg.model, max_length=tc.max_length)
    t = time.perf_counter()
    if cfg.encoder == "frozen":
        feats = tuple(enc.transform(c.texts, file=console.file) for c in (hwv.train, hwv.dev, hwv.test))
    else:
        feats = tuple(enc.transform(c.texts) for c in (hwv.train, hwv.dev, hwv.test))
    console.print(f"features ({cfg.encoder}): {duration(time.perf_counter() - t)}", highlight=False)
    return feats


_WORKER: dict = {}


def _init_worker(cfg: ReproduceConfig, feats, threads: int) -> None:
    """Per-process state: the data and the shared features, loaded once per worker."""
    import torch

    torch.set_num_threads(threads)
    try:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except Exception:  # numba missing or threads fixed: decoding still works
        pass
    _WORKER.update(cfg=cfg, hwv=load_hwv(cfg.data_dir, seed=0), feats=feats)


def launched_run(cfg: ReproduceConfig, feats, threads: int, job: tuple) -> tuple[str, dict]:
    """:func:`one_run` in a process of a launcher (:mod:`htc.launchers`): its state set up first."""
    _init_worker(cfg, feats, threads)
    return one_run(job)


def one_run(job: tuple[str, str, dict, int]) -> tuple[str, dict]:
    """Train one (loss, seed), decode the test set with every decoder and score everything."""
    name, loss, extra, seed = job
    cfg, hwv, feats = _WORKER["cfg"], _WORKER["hwv"], _WORKER["feats"]
    tax, test = hwv.taxonomy, hwv.test
    t1 = time.perf_counter()
    tc = TrainConfig(loss=loss, encoder=cfg.encoder, model=cfg.model, epochs=cfg.epochs,
                     seed=seed, **extra)
    trainer = Trainer(tc, tax, progress=False, console=Console(stderr=True, quiet=True))
    if feats is None:
        trainer.fit(hwv.train, hwv.dev)
        z_dev = predict_logits(trainer, hwv.dev.texts)
        z_test = predict_logits(trainer, test.texts)
    else:
        trainer.fit(hwv.train, hwv.dev, inputs=feats[:2])
        z_dev = predict_logits(trainer, hwv.dev.texts, inputs=feats[1])
        z_test = predict_logits(trainer, test.texts, inputs=feats[2])
    # the marginals predict_proba gives, from the same logits
    p_dev = scaled_marginals(trainer.loss_fn, z_dev, 1.0)
    p_test = scaled_marginals(trainer.loss_fn, z_test, 1.0)
    p_test_cal, calibration = calibrate(trainer.loss_fn, z_dev, z_test, hwv.dev, tax)
    preds, tuned = decode_all(p_dev, p_test, hwv.dev, tax, p_test_cal)
    evidence = multi_path_evidence(p_test, tax)
    picked = ("optimal_hf_multi" if tax.is_tree and evidence.multi_path else "optimal_hf")
    scores = {dec: report(test.y, y, taxonomy=tax, lca=False, by_depth=False)
              for dec, y in preds.items()}
    auc = report(test.y, preds["optimal_hf"], p_test, taxonomy=tax, lca=False,
                 by_depth=False)["hF1_auc"]
    curve = top_down_curve(p_test, test.y, tax, THRESHOLDS)[2].tolist()
    depth = {dec: {d: prf[2] for d, prf in
                   hierarchical_scores_by_depth(test.y, preds[dec], tax).items()}
             for dec in ("top_down_0.5", "optimal_hf")}
    return name, {"seed": seed, "tuned_threshold": tuned, "scores": scores, "hF1_auc": auc,
                  "curve": curve, "depth": depth, "calibration": calibration,
                  "optimal_picked": picked, "multi_path_share": evidence.share,
                  "seconds": time.perf_counter() - t1, "epochs_run": len(trainer.history)}


def run(cfg: ReproduceConfig, console: Console | None = None) -> Path:
    """Train, decode and score everything; write the report; return its folder.

    The (loss, seed) runs are independent: they run in ``cfg.jobs`` worker processes, each
    with ``cores // jobs`` threads (small heads train faster on one thread each than on two
    threads together), sharing features computed once in this process.
    """
    import os

    console = console or Console()
    t0 = time.perf_counter()
    hwv = load_hwv(cfg.data_dir, seed=0)
    console.print(f"HWV from {hwv.folder} ({hwv.split}): train {len(hwv.train)} · dev {len(hwv.dev)} · test "
                  f"{len(hwv.test)} · encoder {cfg.encoder} · {cfg.seeds} seed(s)", soft_wrap=True)
    feats = encode_splits(cfg, hwv, console)
    # slowest losses first, so the last runs to finish are short ones (less idle tail)
    jobs_list = sorted([(name, loss, extra, seed) for seed in range(cfg.seeds)
                        for name, loss, extra in LOSS_RUNS],
                       key=lambda j: (-RUN_COST.get(j[1], 1.0), j[3]))
    cores = os.cpu_count() or 1
    from htc.launchers import current

    launcher = current()  # None: this machine's process pool
    if launcher is None:
        jobs = 1 if feats is None else min(cfg.jobs or cores, len(jobs_list))
        threads = max(1, cores // jobs)
    else:  # each run gets its own CPUs from the cluster; jobs caps the runs in flight (0: all)
        jobs, threads = cfg.jobs, launcher.cpus_per_run
    raw: dict = {name: [] for name, _, _ in LOSS_RUNS}

    guess = ""
    if feats is not None and cfg.encoder == "frozen" and launcher is None:
        cost = sum(RUN_COST.get(loss, 1.0) for _, loss, _, _ in jobs_list) * RUN_SECONDS * cfg.epochs / 20
        guess = f", about {duration(cost / min(jobs * threads, cores))} on {min(jobs * threads, cores)} core(s)"
    where = (f"on {jobs} worker process(es) × {threads} thread(s){guess}" if launcher is None else
             f"through {launcher.name}, {threads} CPU(s) per run")
    console.print(f"training and scoring {len(jobs_list)} runs ({len(LOSS_RUNS)} losses × {cfg.seeds} seed(s)) "
                  f"{where}; a line per finished run", highlight=False, soft_wrap=True)
    bar = Progress("htc reproduce", len(jobs_list), unit="runs", file=console.file)

    def record(name: str, r: dict) -> None:
        raw[name].append(r)
        sc = r["scores"]
        bar.update(advance=1, info=f"last: seed {r['seed']} · {name}")
        bar.line(f"seed {r['seed']} · {name}: {r['seconds']:.1f} s · micro-hF1 top-down 0.5 "
                 f"{sc['top_down_0.5']['h_micro_f']:.3f}, optimal "
                 f"{sc['optimal_hf']['h_micro_f']:.3f} · per-document hF1 optimal "
                 f"{sc['optimal_hf']['h_samples_f']:.3f}, calibrated (T = "
                 f"{r['calibration']['temperature']:.2f}) "
                 f"{sc['optimal_hf_calibrated']['h_samples_f']:.3f}")

    t_train = time.perf_counter()
    with bar:
        if launcher is not None:
            launcher.map(launched_run, {f"{job[0]} seed {job[3]}": (cfg, feats, threads, job)
                                        for job in jobs_list}, jobs, lambda _, result: record(*result))
        elif jobs == 1:
            _init_worker(cfg, feats, cores)
            for job in jobs_list:
                record(*one_run(job))
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"),
                                     initializer=_init_worker, initargs=(cfg, feats, threads)) as pool:
                for fut in as_completed([pool.submit(one_run, job) for job in jobs_list]):
                    record(*fut.result())
    for runs in raw.values():
        runs.sort(key=lambda r: r["seed"])
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(raw)
    meta = {"command": "htc " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("htc") else
            " ".join(sys.argv), "encoder": cfg.encoder, "seeds": list(range(cfg.seeds)),
            "epochs": cfg.epochs, "data": str(hwv.folder), "split": hwv.split, "train": len(hwv.train),
            "dev": len(hwv.dev), "test": len(hwv.test), "python": platform.python_version(),
            "jobs": jobs, "threads_per_job": threads, "cores": cores,
            "losses": {name: loss for name, loss, _ in LOSS_RUNS},
            "train_eval_seconds": time.perf_counter() - t_train,
            "wall_seconds": time.perf_counter() - t0}
    (out / "results.json").write_text(json.dumps({"meta": meta, "summary": summary, "raw": raw},
                                                 indent=1))
    plots(raw, summary, out)
    (out / "report.md").write_text(markdown(meta, summary))
    console.print(f"htc reproduce done in {duration(meta['wall_seconds'])}; wrote:", highlight=False, soft_wrap=True)
    for name, what in FILES:
        console.print(f"  {out / name}  ({what})", highlight=False, soft_wrap=True)
    return out


FILES = (("report.md", "the report: findings, score tables, rankings"),
         ("results.json", "every score of every run"),
         ("hf1_vs_threshold.png", "plot: micro-hF1 against the top-down threshold"),
         ("per_depth.png", "plot: F1 per depth"))


def summarise(raw: dict) -> dict:
    s: dict = {"scores": {}, "auc": {}, "ranking": {}, "findings": {}}
    for name, runs in raw.items():
        s["scores"][name] = {dec: {m: t_interval([r["scores"][dec][m] for r in runs])
                                   for m in METRICS} for dec in DECODERS}
        s["auc"][name] = t_interval([r["hF1_auc"] for r in runs])
    names = list(raw)
    changes = 0
    reference = None
    for dec in DECODERS:
        for m in METRICS:
            means = [s["scores"][n][dec][m][0] for n in names]
            order = [names[i] for i in np.argsort(means)[::-1]]
            s["ranking"][f"{m}|{dec}"] = order
            if reference is None:
                reference = order
            changes += order[0] != reference[0]
    s["findings"]["best_loss_changes"] = changes
    s["findings"]["rankings"] = len(s["ranking"])
    # decoder effect per loss, paired decoder differences, calibration, LA vs plain on macro metrics
    s["findings"]["decoder_effect"] = {
        n: {m: {dec: s["scores"][n][dec][m][0] for dec in DECODERS} for m in HF} for n in names}

    def paired(n: str, a: str, b: str) -> dict:
        return {m: t_interval([r["scores"][a][m] - r["scores"][b][m] for r in raw[n]]) for m in HF}

    s["findings"]["optimal_vs_top_down"] = {n: paired(n, "optimal_hf", "top_down_0.5")
                                            for n in names}
    s["findings"]["optimal_vs_tuned"] = {n: paired(n, "optimal_hf", "top_down_tuned")
                                         for n in names}
    s["findings"]["calibration"] = {
        n: {"effect": paired(n, "optimal_hf_calibrated", "optimal_hf"),
            **{k: t_interval([r["calibration"][k] for r in raw[n]])
               for k in raw[n][0]["calibration"]}} for n in names}
    s["findings"]["optimal_picked"] = {
        n: {"decoders": sorted({r["optimal_picked"] for r in raw[n]}),
            "multi_path_share": t_interval([r["multi_path_share"] for r in raw[n]])}
        for n in names}
    s["findings"]["la_vs_plain"] = {
        f"{la}|{m}|{dec}": t_interval([a["scores"][dec][m] - b["scores"][dec][m]
                                       for a, b in zip(raw[la], raw["cond_softmax"])])
        for la in ("cond_softmax_la_0.5", "cond_softmax_la_1")
        for m in ("h_leaf_f", "h_macro_f", "flat_macro_f", "h_micro_f")
        for dec in ("top_down_0.5", "top_down_tuned", "optimal_hf")}
    return s


def plots(raw: dict, summary: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_seeds = min(len(runs) for runs in raw.values())
    bands = n_seeds >= MIN_SEEDS_FOR_BANDS
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, (name, runs) in enumerate(raw.items()):
        curves = np.array([r["curve"] for r in runs])
        mean = curves.mean(0)
        (line,) = ax.plot(THRESHOLDS, mean, label=name, ms=4, markevery=(i % 4, 4), **style(i))
        if bands:
            half = np.array([t_interval(col)[1] for col in curves.T])
            ax.fill_between(THRESHOLDS, mean - half, mean + half, alpha=0.15, color=line.get_color(), lw=0)
    ax.axvline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("top-down threshold")
    ax.set_ylabel("test micro-hF1")
    ax.set_title("hF1 against the decoding threshold (mean over "
                 + (f"{n_seeds} seeds, 95% t-interval bands)" if bands else f"{n_seeds} seed(s); no bands "
                    f"under {MIN_SEEDS_FOR_BANDS})"), fontsize=10)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(out / "hf1_vs_threshold.png", dpi=120)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, dec in zip(axes, ("top_down_0.5", "optimal_hf")):
        for i, (name, runs) in enumerate(raw.items()):
            depths = sorted(runs[0]["depth"][dec], key=int)
            vals = [np.mean([r["depth"][dec][d] for r in runs]) for d in depths]
            shift = 0.03 * (i - (len(raw) - 1) / 2)  # side by side: equal values (BCE, CHAMP) stay visible
            ax.plot([int(d) + shift for d in depths], vals, ms=5, label=name, **style(i))
        ax.set_title(f"per-depth F1, {dec} (mean over {n_seeds} seed(s))", fontsize=10)
        ax.set_xlabel("depth (points of a depth drawn side by side)")
        ax.set_ylabel("F1 of the labels at that depth")
        ax.yaxis.set_tick_params(labelleft=True)
    axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(out / "per_depth.png", dpi=120)
    plt.close(fig)


def _verdict(mean: float, half: float, n_seeds: int, up: str, down: str, same: str) -> str:
    if n_seeds < 2:
        return "one seed: no interval"
    return up if mean - half > 0 else (down if mean + half < 0 else same)


def _fmt(mi) -> str:
    return f"{mi[0]:.3f} ± {mi[1]:.3f}"


def markdown(meta: dict, s: dict) -> str:
    names = list(s["scores"])
    lines = ["# HWV: losses × decoders × metrics", "",
             f"Command: `{meta['command']}` · encoder `{meta['encoder']}` · seeds "
             f"{meta['seeds']} · split `{meta['split']}` (train {meta['train']}, dev "
             f"{meta['dev']}, official test {meta['test']}) · {meta['epochs']} epochs max, best dev "
             f"epoch kept · wall time {meta['wall_seconds']:.0f} s.", "",
             "Figures are test-set means ± 95% t-interval half-widths over seeds. The tuned "
             "threshold is chosen on dev for micro-hF1.", ""]
    lines += ["## Findings", "", WHY_HF_DIFFER, ""]
    n_seeds = len(meta["seeds"])
    lines.append("**The decoder moves hF1 a lot for every loss** (top-down 0.5 → best decoder, "
                 "under each hF1 average):")
    lines.append("")
    for n in names:
        parts = []
        for m in HF:
            b = max(DECODERS, key=lambda d, n=n, m=m: s["scores"][n][d][m][0])
            parts.append(f"{METRICS[m]} {s['scores'][n]['top_down_0.5'][m][0]:.3f} → "
                         f"{s['scores'][n][b][m][0]:.3f} with {b}")
        lines.append(f"- {n}: " + "; ".join(parts))
    for key, title in (("optimal_vs_top_down", "Optimal hF1 decoding vs top-down 0.5"),
                       ("optimal_vs_tuned", "Optimal hF1 decoding vs top-down with the threshold "
                                            "tuned on dev for micro-hF1")):
        lines += ["", f"**{title}** (`optimal_hf` − the other, paired by seed):", ""]
        for n in names:
            parts = []
            for m in HF:
                d, h = s["findings"][key][n][m]
                verdict = _verdict(d, h, n_seeds, "better", "worse", "not significantly different")
                parts.append(f"{METRICS[m]} {d:+.3f} ± {h:.3f} ({verdict})")
            lines.append(f"- {n}: " + "; ".join(parts))
    lines += ["", "**Temperature scaling before optimal decoding** (`optimal_hf_calibrated`: one "
              "temperature T on the logits, fit on dev by minimising the model's negative "
              "log-likelihood, Guo et al. 2017; `htc.calibration`). Dev NLL per document before → "
              "after, and the change in test hF1 against `optimal_hf` at T = 1 (paired by seed):",
              ""]
    for n in names:
        c = s["findings"]["calibration"][n]
        parts = [f"{METRICS[m]} {c['effect'][m][0]:+.3f} ± {c['effect'][m][1]:.3f} ("
                 + _verdict(*c["effect"][m], n_seeds, "better", "worse", "no significant change")
                 + ")" for m in HF]
        lines.append(f"- {n}: T = {_fmt(c['temperature'])}, dev NLL {c['nll_before'][0]:.3f} → "
                     f"{c['nll_after'][0]:.3f}; " + "; ".join(parts))
    single = [n for n in names if meta.get("losses", {}).get(n) in SINGLE_PATH_LOSSES]
    if single:
        lines += ["", "What `optimal_hf` relies on is the expected per-document hF1 of its "
                  "prediction under the marginals; on dev, mean expected vs actual (single-path "
                  "losses, whose marginals define that expectation exactly):", ""]
        for n in single:
            c = s["findings"]["calibration"][n]
            lines.append(f"- {n}: T = 1: expected {c['dev_expected_hf_raw'][0]:.3f}, actual "
                         f"{c['dev_actual_hf_raw'][0]:.3f}; fitted T: expected "
                         f"{c['dev_expected_hf_calibrated'][0]:.3f}, actual "
                         f"{c['dev_actual_hf_calibrated'][0]:.3f}")
        lines += ["", "An expectation below the actual score means the marginals are "
                  "under-confident for this decision (a smaller T raises the expectation), above it "
                  "over-confident; the NLL scores the probability of the whole true path instead.",
                  ""]
    else:
        lines.append("")
    lines += ["**The `optimal` decoder** picks the multi-path decoder (`optimal_hf_multi`) when "
              f"at least {MAJORITY:.0%} of the documents' sibling marginals exceed their parent's "
              f"by more than {MARGIN}, else `optimal_hf`. It picked:", ""]
    for n in names:
        o = s["findings"]["optimal_picked"][n]
        lines.append(f"- {n}: {', '.join(o['decoders'])} (documents that look multi-path: "
                     f"{o['multi_path_share'][0]:.1%})")
    lines += ["", "**Does the logit adjustment improve the macro metrics?** (LA − plain conditional "
              "softmax, paired by seed):", ""]
    for key, (m, h) in s["findings"]["la_vs_plain"].items():
        la, metric, dec = key.split("|")
        verdict = _verdict(m, h, n_seeds, "improves", "hurts", "no significant change")
        lines.append(f"- {la}, {METRICS[metric]}, {dec}: {m:+.3f} ± {h:.3f} ({verdict})")
    changes, total = s["findings"]["best_loss_changes"], s["findings"]["rankings"]
    lines += ["", f"**Does the ranking change with the metric and the decoder?** The best loss "
              f"differs from the one under {list(METRICS.values())[0]} with threshold 0.5 in "
              f"{changes} of {total} metric × decoder combinations (full rankings below).", ""]
    if "champ" in names and "bce" in names:
        lines += ["CHAMP runs with β = 1e-4 as in the authors' official code, which makes it BCE up to "
                  "about 1e-4 relative on the loss: identical or nearly identical numbers to BCE "
                  "are expected, not a bug.", ""]
    lines += ["## Scores", "", "![hF1 vs threshold](hf1_vs_threshold.png)", "",
              "![per depth](per_depth.png)", ""]
    for m, label in METRICS.items():
        lines += [f"### {label}", "", "| loss | " + " | ".join(DECODERS) + " |",
                  "|---|" + "---|" * len(DECODERS)]
        for n in names:
            lines.append(f"| {n} | " + " | ".join(_fmt(s["scores"][n][d][m]) for d in DECODERS)
                         + " |")
        lines.append("")
    lines += ["### hF1-AUC (threshold-free)", "", "| loss | hF1-AUC |", "|---|---|"]
    lines += [f"| {n} | {_fmt(s['auc'][n])} |" for n in names]
    lines += ["", "## Rankings (best first)", "", "| metric | decoder | ranking |", "|---|---|---|"]
    for key, order in s["ranking"].items():
        m, dec = key.split("|")
        lines.append(f"| {METRICS[m]} | {dec} | {' > '.join(order)} |")
    return "\n".join(lines) + "\n"
