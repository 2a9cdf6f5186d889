"""``htc multipath-study``: which decoder gets the best per-document hF1 on multi-path data?

Data: a random tree per seed (3 levels, 3–6 children per node: about 150 labels) and a linear
conditional-sigmoid generator (:class:`htc.datasets.ConditionalSigmoidModel`) that gives most
documents several paths (the report states the measured labels and paths per document). Test and
dev documents without any label are left out (real corpora have none; the models do not know it).

Models, each giving node marginals for the decoders:

- ``oracle``: the generator's own marginals (perfectly calibrated);
- ``cond_sigmoid``: one logistic regression per node on the documents whose parent is present
  (the maximum-likelihood conditional-sigmoid model with linear logits; well calibrated);
- ``binary_relevance``: one logistic regression per node on every document (BCE-style marginals).

Decoders: threshold 0.5, top-down 0.5, top-down with the threshold tuned on dev (for per-document
hF1), greedy leaf, argmax leaf, the single-path ``optimal_hf`` and the multi-path
``optimal_hf_multi``. Scores: per-document hF1 (what the optimal decoders maximise in expectation)
and micro-hF1, mean ± 95% t-interval over seeds; the report gives the paired difference between
``optimal_hf_multi`` and the best other decoder.

``corpus="debtags"`` runs the same decoders on a real multi-path corpus instead
(:mod:`htc.debtags`: Debian package descriptions with their Debtags, 68% of them multi-path) with
one model per loss of :data:`htc.losses.LOSSES`, each the scikit-learn estimator
(:class:`htc.estimator.HierarchicalClassifier`, sparse TF-IDF input) on a seeded 70/10/20 split per
seed; dev picks the tuned threshold. See :func:`run_real`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from rich.console import Console

from htc.datasets import ConditionalSigmoidModel, random_taxonomy
from htc.decoding import decode, tune_threshold
from htc.intervals import MIN_SEEDS_FOR_BANDS, t_interval
from htc.metrics import hierarchical_precision_recall_fscore
from htc.stats import dataset_statistics
from htc.taxonomy import Taxonomy

DECODERS = ("threshold_0.5", "top_down_0.5", "top_down_tuned", "greedy_leaf", "argmax_leaf",
            "optimal_hf", "optimal_hf_multi")
MODELS = ("oracle", "cond_sigmoid", "binary_relevance")
METRICS = {"h_samples_f": "per-document hF1", "h_micro_f": "micro-hF1"}
CORPORA = ("synthetic", "debtags")
#: the real corpus's split shares (train, dev; test is the rest)
REAL_SPLIT = (0.7, 0.1)


@dataclass
class MultipathStudyConfig:
    """Sizes and seeds of the study (defaults: about 1 minute on 2 cores)."""

    seeds: int = 5
    train: int = 4000
    dev: int = 1000
    test: int = 4000
    depth: int = 3
    branching: tuple[int, int] = (3, 6)
    dim: int = 16
    signal: float = 3.0
    top_paths: float = 1.6
    branch_paths: float = 1.4
    out: str = "runs/htc-multipath"
    corpus: str = "synthetic"
    #: real corpus only: Packages files (default: apt's), the estimator's settings
    packages: tuple[str, ...] = ()
    epochs: int = 10
    hidden: int = 256
    batch_size: int = 64
    lr: float = 2e-3
    max_features: int = 25_000

    def __post_init__(self) -> None:
        for name in ("seeds", "train", "dev", "test", "depth", "dim", "epochs", "hidden",
                     "batch_size", "max_features"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.corpus not in CORPORA:
            raise ValueError(f"corpus must be one of {CORPORA}, got {self.corpus!r}")


def fit_marginals(tax: Taxonomy, x_train: np.ndarray, y_train: sp.csr_matrix,
                  x_eval: list[np.ndarray], conditional: bool) -> list[np.ndarray]:
    """Per-node logistic regressions (scikit-learn); conditional ones are trained on the
    documents whose parent is present and multiplied along the path."""
    from sklearn.linear_model import LogisticRegression

    y = y_train.toarray().astype(bool)
    outs = [np.zeros((len(x), len(tax))) for x in x_eval]
    for i in tax.topological_order:
        par = tax.parents(i)
        rows = y[:, par[0]] if conditional and len(par) else np.ones(len(y), dtype=bool)
        target = y[rows, i]
        clf = None
        if target.any() and not target.all():
            clf = LogisticRegression(C=1.0, max_iter=500).fit(x_train[rows], target)
        for x, out in zip(x_eval, outs):
            if clf is None:
                prob = np.full(len(x), target.mean() if target.size else 0.0)
            else:
                prob = clf.predict_proba(x)[:, 1]
            out[:, i] = prob * (out[:, par[0]] if conditional and len(par) else 1.0)
    return outs


def _scores(y_true, y_pred, tax) -> dict[str, float]:
    return {"h_samples_f": hierarchical_precision_recall_fscore(y_true, y_pred, tax,
                                                                average="samples")[2],
            "h_micro_f": hierarchical_precision_recall_fscore(y_true, y_pred, tax)[2]}


def decode_and_score(tax, p_dev, y_dev, p_test, y_test) -> dict[str, dict[str, float]]:
    """Every decoder on the test marginals; the tuned threshold is chosen on dev."""
    tuned = tune_threshold(p_dev, y_dev, tax, metric="h_samples_f").threshold
    preds = {
        "threshold_0.5": decode(p_test, tax, "threshold", threshold=0.5),
        "top_down_0.5": decode(p_test, tax, "top_down", threshold=0.5),
        "top_down_tuned": decode(p_test, tax, "top_down", threshold=tuned),
        "greedy_leaf": decode(p_test, tax, "greedy_leaf"),
        "argmax_leaf": decode(p_test, tax, "argmax_leaf"),
        "optimal_hf_multi": decode(p_test, tax, "optimal_hf_multi"),
    }
    import warnings

    from htc.decoding import MultiPathWarning

    with warnings.catch_warnings():  # applying it to multi-path marginals is the point here
        warnings.simplefilter("ignore", MultiPathWarning)
        preds["optimal_hf"] = decode(p_test, tax, "optimal_hf")
    out = {name: _scores(y_test, preds[name], tax) for name in DECODERS}
    out["top_down_tuned"]["threshold"] = tuned
    return out


def one_seed(cfg: MultipathStudyConfig, seed: int) -> dict:
    tax = random_taxonomy(cfg.depth, cfg.branching, seed=seed)
    gen = ConditionalSigmoidModel.random(tax, dim=cfg.dim, signal=cfg.signal,
                                         top_paths=cfg.top_paths, branch_paths=cfg.branch_paths,
                                         seed=seed)
    x_tr, y_tr, _ = gen.sample(cfg.train, seed=1000 + seed)
    x_dv, y_dv, p_dv = gen.sample(cfg.dev, seed=2000 + seed)
    x_te, y_te, p_te = gen.sample(cfg.test, seed=3000 + seed)
    keep_dv = np.asarray(y_dv.sum(axis=1)).ravel() > 0
    keep_te = np.asarray(y_te.sum(axis=1)).ravel() > 0
    x_dv, y_dv, p_dv = x_dv[keep_dv], y_dv[keep_dv], p_dv[keep_dv]
    x_te, y_te, p_te = x_te[keep_te], y_te[keep_te], p_te[keep_te]
    marginals = {"oracle": (p_dv, p_te)}
    for name, conditional in (("cond_sigmoid", True), ("binary_relevance", False)):
        marginals[name] = tuple(fit_marginals(tax, x_tr, y_tr, [x_dv, x_te], conditional))
    stats = dataset_statistics(y_te, tax)
    return {
        "seed": seed, "labels": len(tax), "test_docs": int(keep_te.sum()),
        "labels_per_doc": stats["labels_per_doc_mean"], "paths_per_doc": stats["paths_per_doc_mean"],
        "multi_path_share": stats["multi_path_docs"] / max(1, stats["documents"]),
        "models": {m: decode_and_score(tax, pd, y_dv, pt, y_te) for m, (pd, pt) in marginals.items()},
    }


def summarise(runs: list[dict], models: tuple[str, ...] = MODELS) -> dict:
    """Mean ± half-width per model × decoder × metric, and optimal_hf_multi − best other."""
    out: dict = {}
    for m in models:
        out[m] = {}
        for d in DECODERS:
            out[m][d] = {k: t_interval([r["models"][m][d][k] for r in runs]) for k in METRICS}
        means = {d: out[m][d]["h_samples_f"][0] for d in DECODERS if d != "optimal_hf_multi"}
        rival = max(means, key=means.get)
        diff = [r["models"][m]["optimal_hf_multi"]["h_samples_f"]
                - r["models"][m][rival]["h_samples_f"] for r in runs]
        out[m]["vs_best_other"] = {"rival": rival, "diff": t_interval(diff),
                                   "wins": int(sum(x > 0 for x in diff)), "seeds": len(diff)}
    return out


def plot(summary: dict, path: Path, models: tuple[str, ...] = MODELS,
         title: str = "Decoders on multi-path data (conditional-sigmoid generator)") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=False)
    width = 0.8 / len(DECODERS)
    MODELS = models  # noqa: N806  (the plotted models)
    bars = summary[MODELS[0]]["vs_best_other"]["seeds"] >= MIN_SEEDS_FOR_BANDS  # no CI from 1-2 seeds
    for ax, (key, label) in zip(axes, METRICS.items()):
        for j, d in enumerate(DECODERS):
            means = [summary[m][d][key][0] for m in MODELS]
            errs = [summary[m][d][key][1] for m in MODELS] if bars else None
            ax.bar(np.arange(len(MODELS)) + (j - len(DECODERS) / 2 + 0.5) * width, means, width,
                   yerr=errs, capsize=2, label=d, hatch="//" if d == "optimal_hf_multi" else None,
                   edgecolor="black" if d == "optimal_hf_multi" else None)
        lo = min(summary[m][d][key][0] for m in MODELS for d in DECODERS)
        hi = max(summary[m][d][key][0] for m in MODELS for d in DECODERS)
        ax.set_ylim(max(0.0, lo - 0.05), min(1.0, hi + 0.05))
        ax.set_xticks(np.arange(len(MODELS)), MODELS, rotation=15 if len(MODELS) > 3 else 0,
                      fontsize=8 if len(MODELS) > 3 else None)
        ax.set_xlabel("model giving the marginals")
        ax.set_ylabel(f"test {label} ({'mean, 95% CI' if bars else 'mean over seeds'})")
        ax.set_title(label)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(DECODERS), fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _span(values: list[int]) -> str:
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}–{max(values)}"


def markdown(cfg: MultipathStudyConfig, runs: list[dict], summary: dict, wall: float) -> str:
    share = np.mean([r["multi_path_share"] for r in runs])
    lines = [
        "# Decoding multi-path predictions: per-document hF1 by decoder",
        "",
        f"Command: `htc multipath-study --seeds {cfg.seeds} --out {cfg.out}` · wall time "
        f"{wall:.0f} s · seeds {[r['seed'] for r in runs]}.",
        "",
        f"Data per seed: a random tree of {_span([r['labels'] for r in runs])} labels and a "
        f"conditional-sigmoid generator; train {cfg.train}, dev and test documents "
        f"with at least one label (test: about {int(np.mean([r['test_docs'] for r in runs]))}); "
        f"{np.mean([r['labels_per_doc'] for r in runs]):.1f} labels and "
        f"{np.mean([r['paths_per_doc'] for r in runs]):.1f} paths per test document, "
        f"{share:.0%} of them multi-path. Figures: test mean ± 95% t-interval over seeds.",
        "",
        "Per-document hF1 averages each document's hF1; micro-hF1 pools node counts over all "
        "documents, so it gives more weight to documents with many labels. The optimal decoders "
        "maximise the expected per-document hF1 of each document, not micro-hF1.",
        "",
        "## Findings",
        "",
    ]
    for m in MODELS:
        v = summary[m]["vs_best_other"]
        mean, half = v["diff"]
        verdict = "better" if mean - half > 0 else ("worse" if mean + half < 0 else "no significant difference")
        lines.append(f"- **{m}**: optimal_hf_multi − {v['rival']} (the best other decoder) = "
                     f"{mean:+.4f} ± {half:.4f} per-document hF1 ({verdict}; ahead on "
                     f"{v['wins']}/{v['seeds']} seeds).")
    lines += ["", "## Per-document hF1 and micro-hF1", "",
              "| model | decoder | per-document hF1 | micro-hF1 |", "|---|---|---|---|"]
    lines += _decoder_rows(summary, MODELS)
    lines += ["", "![per-document hF1 and micro-hF1 by decoder](multipath.png)", "",
              "Raw figures: [results.json](results.json).", ""]
    return "\n".join(lines)


def _decoder_rows(summary: dict, models) -> list[str]:
    """Markdown rows ``| model | decoder | per-document hF1 | micro-hF1 |``, each model's best decoder
    on per-document hF1 in bold."""
    lines = []
    for m in models:
        best = max(DECODERS, key=lambda d: summary[m][d]["h_samples_f"][0])
        for d in DECODERS:
            cells = []
            for k in METRICS:
                mean, half = summary[m][d][k]
                cell = f"{mean:.4f} ± {half:.4f}"
                cells.append(f"**{cell}**" if k == "h_samples_f" and d == best else cell)
            lines.append(f"| {m} | {d} | {cells[0]} | {cells[1]} |")
    return lines


def run(cfg: MultipathStudyConfig, console: Console) -> dict:
    """Run every seed, write ``results.json``, ``README.md`` and ``multipath.png`` to ``cfg.out``."""
    from htc.data import write_json_atomic

    if cfg.corpus != "synthetic":
        return run_real(cfg, console)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    from htc.launchers import current

    def say(seed: int, run: dict, took: str) -> None:
        res = run["models"]["cond_sigmoid"]
        console.print(f"seed {seed + 1}/{cfg.seeds} ({took}): "
                      f"cond_sigmoid per-document hF1 optimal_hf_multi "
                      f"{res['optimal_hf_multi']['h_samples_f']:.4f}, top_down_tuned "
                      f"{res['top_down_tuned']['h_samples_f']:.4f}", highlight=False)

    runs = []
    if current() is None:
        for seed in range(cfg.seeds):
            t = time.perf_counter()
            runs.append(one_seed(cfg, seed))
            say(seed, runs[-1], f"{time.perf_counter() - t:.0f} s")
    else:  # the seeds as runs of a launcher (htc.launchers); the report takes them in seed order
        got = current().map(one_seed, {seed: (cfg, seed) for seed in range(cfg.seeds)}, 0,
                            lambda seed, run: say(seed, run, f"through {current().name}"))
        runs = [got[seed] for seed in range(cfg.seeds)]
    summary = summarise(runs)
    wall = time.perf_counter() - t0
    write_json_atomic(out / "results.json", {"config": asdict(cfg), "runs": runs,
                                             "summary": summary, "wall_s": wall})
    plot(summary, out / "multipath.png")
    (out / "README.md").write_text(markdown(cfg, runs, summary, wall))
    console.print(f"report: {out / 'README.md'} · plot: {out / 'multipath.png'}")
    return summary


# ---------------------------------------------------------------------------- real corpus
def _index_name(path: str) -> str:
    """``bookworm_main_binary-amd64_Packages.lz4`` from apt's list file name (no host)."""
    name = Path(path).name
    return name.split("_dists_", 1)[1] if "_dists_" in name else name


def real_seed(cfg: MultipathStudyConfig, corpus, seed: int, console: Console) -> dict:
    """One seeded 70/10/20 split: TF-IDF on train, one estimator per loss, every decoder."""
    import warnings

    from sklearn.feature_extraction.text import TfidfVectorizer

    from htc.estimator import HierarchicalClassifier
    from htc.losses import LOSSES
    from htc.training.multipath import MultiPathLossWarning

    n = len(corpus)
    perm = np.random.default_rng(seed).permutation(n)
    n_tr, n_dv = int(REAL_SPLIT[0] * n), int(REAL_SPLIT[1] * n)
    tr, dv, te = np.sort(perm[:n_tr]), np.sort(perm[n_tr:n_tr + n_dv]), np.sort(perm[n_tr + n_dv:])
    texts = np.array(corpus.texts, dtype=object)
    vec = TfidfVectorizer(max_features=cfg.max_features, sublinear_tf=True)
    x_tr = vec.fit_transform(texts[tr])
    x_dv, x_te = vec.transform(texts[dv]), vec.transform(texts[te])
    y = corpus.y
    tax = corpus.taxonomy
    models, fit_s = {}, {}
    for loss in LOSSES:
        t = time.perf_counter()
        clf = HierarchicalClassifier(tax, loss=loss, decoder="optimal", epochs=cfg.epochs,
                                     hidden=cfg.hidden, batch_size=cfg.batch_size, lr=cfg.lr,
                                     random_state=seed)
        with warnings.catch_warnings():  # fitting the single-path losses here is the point
            warnings.simplefilter("ignore", MultiPathLossWarning)
            clf.fit(x_tr, y[tr])
        fit_s[loss] = time.perf_counter() - t
        models[loss] = decode_and_score(tax, clf.predict_proba(x_dv), y[dv],
                                        clf.predict_proba(x_te), y[te])
        models[loss]["fit"] = {"seconds": fit_s[loss], "epochs": clf.n_iter_,
                               "best_epoch": clf.best_epoch_}
        res = models[loss]
        console.print(f"  seed {seed}, {loss}: fit {fit_s[loss]:.0f} s ({clf.n_iter_} epochs); "
                      f"per-document hF1 optimal_hf_multi {res['optimal_hf_multi']['h_samples_f']:.4f}"
                      f", top_down_tuned {res['top_down_tuned']['h_samples_f']:.4f}",
                      highlight=False)
    return {"seed": seed, "train_docs": len(tr), "dev_docs": len(dv), "test_docs": len(te),
            "features": int(x_tr.shape[1]), "models": models}


def markdown_real(cfg: MultipathStudyConfig, info: dict, runs: list[dict], summary: dict,
                  wall: float, models: tuple[str, ...]) -> str:
    seeds = [r["seed"] for r in runs]
    cmd = (f"htc multipath-study --corpus debtags --seeds {cfg.seeds} --epochs {cfg.epochs} "
           f"--hidden {cfg.hidden} --out {cfg.out}")
    lines = [
        "# Decoding multi-path predictions on a real corpus: Debtags",
        "",
        f"Command: `{cmd}` · wall time {wall / 60:.0f} min · seeds {seeds}.",
        "",
        "| corpus | source | licence | documents | labels | multi-path share | labels / doc | "
        "paths / doc |",
        "|---|---|---|---|---|---|---|---|",
        f"| Debtags ({', '.join(info['index'])}) | {info['source']} | {info['licence']} | "
        f"{info['documents']:,} | {info['labels']} ({info['facets']} facets) | "
        f"{info['multi_path_share']:.0%} | {info['labels_per_doc']:.2f} | "
        f"{info['paths_per_doc']:.2f} |",
        "",
        f"Per seed: a random 70/10/20 split ({runs[0]['train_docs']:,} / {runs[0]['dev_docs']:,} /"
        f" {runs[0]['test_docs']:,}), TF-IDF (`TfidfVectorizer(max_features={cfg.max_features}, "
        f"sublinear_tf=True)` on train, {runs[0]['features']:,} features), one "
        f"`HierarchicalClassifier(loss=..., hidden={cfg.hidden}, epochs={cfg.epochs}, "
        f"batch_size={cfg.batch_size}, lr={cfg.lr})` per loss (sparse first layer; early stopping "
        "on the per-document hF1 of a 10% hold-out of train); dev picks the top-down threshold "
        "for per-document hF1. Figures: test mean ± 95% t-interval over seeds.",
        "",
        "## Findings",
        "",
    ]
    for m in models:
        v = summary[m]["vs_best_other"]
        mean, half = v["diff"]
        verdict = ("better" if mean - half > 0 else
                   ("worse" if mean + half < 0 else "no significant difference"))
        best = max(DECODERS, key=lambda d: summary[m][d]["h_samples_f"][0])
        lines.append(f"- **{m}**: best decoder {best} ({summary[m][best]['h_samples_f'][0]:.4f});"
                     f" optimal_hf_multi − {v['rival']} = {mean:+.4f} ± {half:.4f} per-document "
                     f"hF1 ({verdict}; ahead on {v['wins']}/{v['seeds']} seeds).")
    lines += ["", "## Per-document hF1 and micro-hF1", "",
              "| model (loss) | decoder | per-document hF1 | micro-hF1 |", "|---|---|---|---|"]
    lines += _decoder_rows(summary, models)
    fits = {m: np.mean([r["models"][m]["fit"]["seconds"] for r in runs]) for m in models}
    lines += ["", "Fit time per model (mean over seeds, 2 shared cores): "
              + ", ".join(f"{m} {s:.0f} s" for m, s in fits.items()) + ".", "",
              "![per-document hF1 and micro-hF1 by decoder](multipath-debtags.png)", "",
              "Raw figures: [results-debtags.json](results-debtags.json).", ""]
    return "\n".join(lines)


def _real_seed_quiet(cfg: MultipathStudyConfig, corpus, seed: int) -> dict:
    """:func:`real_seed` in a launcher's process: its lines to that process's stderr."""
    return real_seed(cfg, corpus, seed, Console(stderr=True))


def run_real(cfg: MultipathStudyConfig, console: Console) -> dict:
    """Every loss × decoder on the Debtags corpus over ``cfg.seeds`` seeded splits; writes
    ``results-debtags.json``, ``README-debtags.md`` and ``multipath-debtags.png`` to ``cfg.out``."""
    from htc.data import write_json_atomic
    from htc.debtags import load_debtags
    from htc.losses import LOSSES

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    corpus = load_debtags(list(cfg.packages) or None)
    info = corpus.summary()
    info["index"] = [_index_name(f) for f in info.pop("files")]
    console.print(f"Debtags: {info['documents']:,} documents, {info['labels']} labels, "
                  f"{info['multi_path_share']:.0%} multi-path; {len(LOSSES)} losses × "
                  f"{cfg.seeds} seeds", highlight=False)
    from htc.launchers import current

    if current() is not None:  # the seeds as runs of a launcher (htc.launchers), in seed order after
        got = current().map(_real_seed_quiet, {seed: (cfg, corpus, seed) for seed in range(cfg.seeds)}, 0,
                            lambda seed, _: console.print(f"seed {seed} done", highlight=False))
        runs = [got[seed] for seed in range(cfg.seeds)]
    else:
        runs = [real_seed(cfg, corpus, seed, console) for seed in range(cfg.seeds)]
    models = tuple(LOSSES)
    summary = summarise(runs, models)
    wall = time.perf_counter() - t0
    write_json_atomic(out / "results-debtags.json", {"config": asdict(cfg), "corpus": info,
                                                     "runs": runs, "summary": summary,
                                                     "wall_s": wall})
    plot(summary, out / "multipath-debtags.png", models,
         title="Decoders on a real multi-path corpus (Debtags), one model per loss")
    (out / "README-debtags.md").write_text(markdown_real(cfg, info, runs, summary, wall, models))
    console.print(f"report: {out / 'README-debtags.md'} · plot: {out / 'multipath-debtags.png'}")
    return summary
