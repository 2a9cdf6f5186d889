"""The ``htc`` command line: ``htc evaluate`` and ``htc stats`` (``htc --help``)."""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from htc._extras import missing_extra, require
from htc.cli_config import build_config, config_options
from htc.data import DataError, read_jsonl, write_json_atomic
from htc.run_folder import run_folder_command
from htc.taxonomy import Taxonomy, TaxonomyError
from htc.train_config import TrainConfig

app = typer.Typer(
    help="Hierarchical text classification: metrics, decoding, datasets.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # help text is plain: brackets such as htc[tensorboard] stay as written
)
console = Console()
err_console = Console(stderr=True)


def friendly_errors(fn):
    """Turn expected errors into one red line and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (TaxonomyError, DataError, ValueError, OSError, KeyError) as err:
            msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except ModuleNotFoundError as err:  # an optional dependency: name the extra to install
            missing = missing_extra(err, f"htc {fn.__name__.replace('_', '-')}",
                                    "study" if fn.__name__ == "multipath_study" else "train")
            if missing is None:
                raise
            err_console.print(f"[bold red]error:[/] {escape(str(missing))}", highlight=False,
                              soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """``np.save`` under a unique temporary name, then a rename: never a half-written ``.npy``, and
    two writers of one file never mix their data."""
    from htc.run_folder import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def _load_proba(path: Path, n_docs: int, n_labels: int, gold: Path | None = None) -> np.ndarray:
    """A ``(n_docs, n_labels)`` array of probabilities from a ``.npy`` file; every refusal is a
    ``ValueError`` (or ``FileNotFoundError``) whose message starts with the file's name and says
    which document (row) and label (column) is wrong."""
    try:
        proba = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: a folder, not a .npy file") from None
    except Exception as err:  # whatever a damaged file makes NumPy raise
        raise ValueError(f"{path}: not a NumPy .npy array ({type(err).__name__}: {err})") from None
    if not isinstance(proba, np.ndarray):  # an .npz archive
        proba.close()
        raise ValueError(f"{path}: an .npz archive; give one .npy array (documents × labels)")
    if proba.dtype.kind not in "biuf":
        raise ValueError(f"{path}: dtype {proba.dtype}; expected numbers (probabilities in [0, 1])")
    if proba.shape != (n_docs, n_labels):
        docs = "gold documents" if gold is None else f"documents in {gold}"
        raise ValueError(f"{path}: shape {proba.shape}, expected ({n_docs}, {n_labels}) = "
                         f"({docs}, taxonomy labels)")
    bad = ~np.isfinite(proba) | (proba < 0) | (proba > 1)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{path}: row {r} (document {r + 1}), column {c} is {float(proba[r, c])!r}: "
                         f"not a probability in [0, 1] ({int(bad.sum())} such value(s))")
    return proba


# The one parameter tuned for each decoder; greedy_leaf and argmax_leaf have none.
TUNED_PARAMETER = {"threshold": "threshold", "top_down": "threshold", "optimal": "beta",
                   "optimal_hf": "beta", "optimal_hf_multi": "beta"}
BETA_GRID = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def check_tuning(decoder: str, metric: str) -> str:
    """The parameter that tuning ``decoder`` for ``metric`` searches; a one-line ValueError if none."""
    from htc.decoding import METHODS, METRICS

    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} to tune for; choose from "
                         f"{', '.join(METRICS)}")
    if decoder not in METHODS:
        raise ValueError(f"unknown decoder {decoder!r}; choose from {', '.join(METHODS)}")
    if decoder not in TUNED_PARAMETER:
        raise ValueError(f"decoder {decoder} has no parameter to tune; tuning applies to threshold "
                         "and top_down (threshold) and optimal, optimal_hf, optimal_hf_multi (beta)")
    return TUNED_PARAMETER[decoder]


def tune_decoder(proba: np.ndarray, y_true, taxonomy: Taxonomy, decoder: str,
                 metric: str) -> dict:
    """Grid-search ``decoder``'s parameter on dev data ``(proba, y_true)`` for ``metric``.

    threshold/top_down: the threshold, by :func:`htc.decoding.tune_threshold` (0.02…0.98, ties to
    the value closest to 0.5); optimal decoders: ``beta`` over :data:`BETA_GRID` (ties to the value
    closest to 1). Returns the parameter, the best value and dev score, and the whole grid.
    """
    from htc.decoding import METRICS, decode, tune_threshold

    parameter = check_tuning(decoder, metric)
    if parameter == "threshold":
        res = tune_threshold(proba, y_true, taxonomy, metric=metric, method=decoder)
        grid, scores = res.thresholds, res.scores
        value, score = res.threshold, res.score
    else:
        grid = np.array(BETA_GRID)
        scores = np.array([METRICS[metric](y_true, decode(proba, taxonomy, decoder, beta=float(b)),
                                           taxonomy) for b in grid])
        best = np.flatnonzero(scores == scores.max())
        i = best[np.argmin(np.abs(np.log(grid[best])))]
        value, score = float(grid[i]), float(scores[i])
    return {"decoder": decoder, "parameter": parameter, "value": value, "metric": metric,
            "dev_score": score, "grid": [float(g) for g in grid],
            "dev_scores": [float(x) for x in scores]}


def _decoding(decoder: str, threshold: float, beta: float) -> str:
    """``top_down 0.5``, ``optimal_hf beta 1`` or ``argmax_leaf``: what a decoder ran with."""
    parameter = TUNED_PARAMETER.get(decoder)
    if parameter == "threshold":
        return f"{decoder} {threshold:g}"
    return f"{decoder} beta {beta:g}" if parameter == "beta" else decoder


def _resolved(proba: np.ndarray, taxonomy: Taxonomy, decoder: str,
              split_loss: str | None = None) -> dict:
    """What ``decoder`` ran as: ``optimal`` resolved on ``proba`` (printed, with the reason), any
    other decoder itself; written into the output JSON as ``decoder_resolved``."""
    if decoder != "optimal":
        return {"requested": decoder, "resolved": decoder}
    from htc.decoding import resolve_optimal

    res = resolve_optimal(proba, taxonomy, split_loss=split_loss)
    console.print(f"decoder optimal → {res['resolved']} ({res['reason']})", highlight=False,
                  soft_wrap=True)
    return res


def _renamed(old: str, old_value, new: str, value, default):
    """``value``, or the value given under the option's older name ``old`` (a note on stderr; both at
    once is an error). Older names stay one release."""
    if old_value is None:
        return value
    if value != default:
        raise ValueError(f"{old} is the older name of {new}; give one of them")
    err_console.print(f"note: {old} is now {new}; the older name goes in the next release", highlight=False)
    return old_value


@app.command()
@friendly_errors
def evaluate(
    taxonomy: Path = typer.Option(..., "--taxonomy", "-t", help="taxonomy file (parent<TAB>children)"),
    gold: Path = typer.Option(..., help="gold JSONL ({'token': [...], 'label': [...]})"),
    pred: Path = typer.Option(None, help="predicted labels, JSONL in the gold format"),
    proba: Path = typer.Option(None, help="node probabilities .npy (documents × labels)"),
    decoder: str = typer.Option("top_down", help="decoder for --proba: threshold, top_down, "
                                "greedy_leaf, argmax_leaf, optimal_hf (one path per document), "
                                "optimal_hf_multi (several paths), optimal (picks by the data)"),
    threshold: float = typer.Option(0.5, help="threshold of the threshold/top_down decoders"),
    beta: float = typer.Option(1.0, "--f-beta", help="beta of the F-scores and of the optimal decoders"),
    beta_older: float = typer.Option(None, "--beta", hidden=True),
    tune_on: Path = typer.Option(None, "--tune-on", help="dev gold JSONL: tune the decoder's "
                                 "threshold (threshold, top_down) or beta (optimal*) on it, then "
                                 "decode --proba with the best value"),
    tune_proba: Path = typer.Option(None, "--tune-proba", help="dev node probabilities .npy "
                                    "(documents of --tune-on × labels)"),
    metric: str = typer.Option(None, help="metric --tune-on maximises: h_micro_f (default), "
                               "h_samples_f, h_macro_f, h_leaf_f, flat_micro_f, flat_macro_f, "
                               "c_micro_f, c_macro_f"),
    out: Path = typer.Option(None, "--json", help="write every figure to this JSON file"),
    out_older: Path = typer.Option(None, "--out", hidden=True),
) -> None:
    """Score predictions (labels, or probabilities decoded here) with every metric.

    With ``--tune-on``/``--tune-proba`` the decoder's parameter is first tuned on a dev set; this
    is an option of ``evaluate`` rather than a command of its own because a tuned value only means
    something with the test decoding it feeds, so one call chooses it, applies it and records both.
    The F-scores keep ``--f-beta``; tuning an optimal decoder changes only the decoder's beta.
    """
    from htc.decoding import decode
    from htc.metrics import report

    beta = _renamed("--beta", beta_older, "--f-beta", beta, 1.0)
    out = _renamed("--out", out_older, "--json", out, None)

    if (pred is None) == (proba is None):
        raise ValueError("give exactly one of --pred and --proba")
    tuned = tune_on is not None or tune_proba is not None
    if tuned:
        if proba is None:
            raise ValueError("--tune-on tunes the decoding of --proba; it does not apply to --pred")
        if tune_on is None or tune_proba is None:
            raise ValueError("--tune-on DEV_GOLD.jsonl and --tune-proba DEV_PROBA.npy go together "
                             "(the dev set's labels and node probabilities)")
        metric = metric or "h_micro_f"
        check_tuning(decoder, metric)
    elif metric is not None:
        raise ValueError("--metric is the metric that tuning maximises; it needs --tune-on and "
                         "--tune-proba")
    tax = Taxonomy.from_file(taxonomy)
    truth = read_jsonl(gold, tax)
    if len(truth) == 0:
        raise DataError("no documents to score (the gold file is empty)", path=str(gold))
    node_proba = None
    if pred is not None:
        y_pred = read_jsonl(pred, tax, allow_empty=True).y
        if y_pred.shape[0] != truth.y.shape[0]:
            raise ValueError(f"{pred}: {y_pred.shape[0]} documents but {gold} has "
                             f"{truth.y.shape[0]}")
    else:
        node_proba = _load_proba(proba, truth.y.shape[0], len(tax), gold)
        tuning = None
        if tuned:
            dev = read_jsonl(tune_on, tax)
            if len(dev) == 0:
                raise DataError("no documents to tune on (the dev file is empty)", path=str(tune_on))
            dev_proba = _load_proba(tune_proba, len(dev), len(tax), tune_on)
            tuning = tune_decoder(dev_proba, dev.y, tax, decoder, metric)
            tuning.update(dev_gold=str(tune_on), dev_proba=str(tune_proba))
            console.print(f"tuned {decoder} {tuning['parameter']} on {tune_on} ({len(dev)} "
                          f"documents) for {metric}: {tuning['value']:g} (dev {metric} "
                          f"{tuning['dev_score']:.4f})", highlight=False, soft_wrap=True)
        dec_threshold = tuning["value"] if tuning and tuning["parameter"] == "threshold" else threshold
        dec_beta = tuning["value"] if tuning and tuning["parameter"] == "beta" else beta
        resolved = _resolved(node_proba, tax, decoder)
        y_pred = decode(node_proba, tax, decoder, threshold=dec_threshold, beta=dec_beta)
    figures = report(truth.y, y_pred, node_proba, taxonomy=tax, beta=beta)
    table = Table(title=f"{len(truth)} documents · {tax}")
    for col in ("metric", "precision", "recall", f"F{beta:g}"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    groups = [("flat micro", "flat_micro"), ("flat macro", "flat_macro"),
              ("hier. micro", "h_micro"), ("hier. samples", "h_samples"),
              ("hier. macro (nodes)", "h_macro"), ("hier. leaf-macro (paper)", "h_leaf"),
              ("C-micro", "c_micro"), ("C-macro", "c_macro"), ("LCA micro", "lca_micro")]
    for d in range(1, tax.max_depth + 1):
        groups.append((f"depth {d}", f"depth{d}"))
    for name, key in groups:
        table.add_row(name, *(f"{figures[f'{key}_{k}']:.4f}" for k in "prf"))
    console.print(table)
    console.print(f"Hamming loss {figures['hamming_loss']:.5f}"
                  + (f" · hF1-AUC {figures['hF1_auc']:.4f}" if "hF1_auc" in figures else ""))
    if out is not None:
        meta = {"gold": str(gold), "pred": str(pred) if pred else None,
                "proba": str(proba) if proba else None,
                "decoder": decoder if proba else None, "threshold": threshold, "beta": beta,
                "documents": len(truth)}
        if proba is not None:  # what the decoder ran with (the tuned value, if any)
            meta.update(threshold=dec_threshold, decoder_beta=dec_beta, tuning=tuning,
                        decoder_resolved=resolved)
        write_json_atomic(out, {"meta": meta, "metrics": figures})
        console.print(f"figures written to {out}")


def _load_splits(data, train, dev, test, taxonomy, seed):
    from htc.datasets import BUNDLED_SHA256, load_folder, load_hwv

    if data is not None:
        if any(x is not None for x in (train, dev, test)):
            raise ValueError("give either --data or --train/--dev/--test, not both")
        if str(data) in BUNDLED_SHA256 and not data.exists():  # a dataset name: hwv
            ds = load_hwv(seed=seed)
            return ds.taxonomy, ds.train, ds.dev, ds.test, f"{ds.split} from {ds.folder}"
        ds = load_folder(data, seed=seed)
        return ds.taxonomy, ds.train, ds.dev, ds.test, ds.split
    if train is None or dev is None or taxonomy is None:
        raise ValueError("give --data DIR, or --taxonomy with --train and --dev (and --test)")
    tax = Taxonomy.from_file(taxonomy)
    test_c = read_jsonl(test, tax) if test is not None else None
    return tax, read_jsonl(train, tax), read_jsonl(dev, tax), test_c, "files --train/--dev/--test"


def _predict_and_write(trainer, texts, out: Path, stem: str, decoder: str, threshold: float,
                       beta: float = 1.0):
    from htc.data import write_jsonl
    from htc.decoding import decode

    proba = trainer.predict_proba(texts)
    y_pred = decode(proba, trainer.taxonomy, decoder, threshold=threshold, beta=beta)
    out.mkdir(parents=True, exist_ok=True)  # nothing is written before decoding has succeeded
    save_npy_atomic(out / f"{stem}_proba.npy", proba)
    write_jsonl(out / f"{stem}_pred.jsonl", None, y_pred, trainer.taxonomy)
    return proba, y_pred


@app.command()
@friendly_errors
@run_folder_command("htc train", checkpoint="checkpoint.pt")
@config_options(TrainConfig)
def train(
    options: dict,
    data: Path = typer.Option(None, help="dataset folder (*.taxonomy, *train*, *val*|*dev*, *test*; "
                              "JSONL, optionally .gz), or hwv: the HWV copy that ships with htc "
                              "($HTC_DATA_DIR/hwv first, when it exists)"),
    train_file: Path = typer.Option(None, "--train", help="training JSONL"),
    dev_file: Path = typer.Option(None, "--dev", help="development JSONL"),
    test_file: Path = typer.Option(None, "--test", help="test JSONL"),
    taxonomy: Path = typer.Option(None, "--taxonomy", "-t", help="taxonomy (with --train …)"),
    config: Path = typer.Option(None, help="JSON file of TrainConfig fields (options override)"),
    tune: str = typer.Option(None, "--tune", metavar="METRIC", help="after training, tune the "
                             "decoder's threshold (threshold, top_down) or beta (optimal*) on dev "
                             "for this metric (h_micro_f, h_leaf_f, …); the model keeps it"),
    out: Path = typer.Option(Path("runs/htc"), help="output folder"),
    resume: bool = typer.Option(False, help="continue from OUT/checkpoint.pt"),
) -> None:
    """Train a classifier; writes the model, logs, dev and test probabilities, predictions and
    metrics. ``--tune`` sets the decoder's parameter to its best dev value before the test.

    The options under "TrainConfig fields" override ``--config``, which overrides their defaults."""
    from htc.data import write_jsonl
    from htc.decoding import METRICS, decode
    from htc.metrics import report
    from htc.training import Trainer
    from htc.training.multipath import MultiPathLossWarning

    cfg = build_config(TrainConfig, options, TrainConfig.load(config).to_dict() if config else {})
    if tune is not None:  # refuse before training
        check_tuning(cfg.decoder, tune)
    from htc.training.trainer import resolve_device

    resolve_device(cfg.device)  # a device this machine lacks: refused before any work
    tax, tr, dv, te, split = _load_splits(data, train_file, dev_file, test_file, taxonomy, cfg.seed)
    if int(os.environ.get("RANK", "0")) == 0:  # launched on several processes: rank 0 speaks
        console.print(f"{tax} · train {len(tr)} · dev {len(dv)}" + (f" · test {len(te)}" if te
                      else "") + f" · split: {split}")
    trainer = Trainer(cfg, tax, out_dir=out)
    with warnings.catch_warnings():  # the trainer prints it, once, as a line of its own
        warnings.simplefilter("ignore", MultiPathLossWarning)
        summary = trainer.fit(tr, dv, resume=resume)
    if not trainer.is_main_process:  # the other processes hold the same weights: rank 0 writes
        return
    # the dev set as used, so that htc evaluate --tune-on can tune on it later
    dev_proba = trainer.predict_proba(dv.texts)
    out.mkdir(parents=True, exist_ok=True)
    save_npy_atomic(out / "dev_proba.npy", dev_proba)
    write_jsonl(out / "dev_gold.jsonl", None, dv.y, tax)
    if tune is not None:
        field = "threshold" if TUNED_PARAMETER[cfg.decoder] == "threshold" else "decoder_beta"
        before = getattr(cfg, field)
        before_score = METRICS[tune](dv.y, decode(dev_proba, tax, cfg.decoder,
                                                  threshold=cfg.threshold, beta=cfg.decoder_beta),
                                     tax)
        tuning = tune_decoder(dev_proba, dv.y, tax, cfg.decoder, tune)
        tuning.update(untuned_value=before, untuned_dev_score=before_score)
        setattr(cfg, field, tuning["value"])
        trainer.tuning = tuning
        console.print(f"tuned {cfg.decoder} {tuning['parameter']} on dev for {tune}: "
                      f"{tuning['value']:g} (dev {tune} {tuning['dev_score']:.4f}; untuned "
                      f"{before:g}: {before_score:.4f})", highlight=False, soft_wrap=True)
    trainer.save(out / "model")
    result = {"config": cfg.to_dict(), "split": split, **summary}
    if trainer.tuning is not None:
        result["tuning"] = trainer.tuning
    if te is not None:
        proba, y_pred = _predict_and_write(trainer, te.texts, out, "test", cfg.decoder,
                                           cfg.threshold, cfg.decoder_beta)
        result["test"] = report(te.y, y_pred, proba, taxonomy=tax)
        result["decoder_resolved"] = _resolved(proba, tax, cfg.decoder, trainer.split_loss)
        t = result["test"]
        console.print(f"test ({_decoding(cfg.decoder, cfg.threshold, cfg.decoder_beta)}): "
                      f"micro-hF1 {t['h_micro_f']:.4f} · leaf-macro hF1 {t['h_leaf_f']:.4f} · "
                      f"hF1-AUC {t['hF1_auc']:.4f}", highlight=False, soft_wrap=True)
    write_json_atomic(out / "result.json", result)
    console.print(f"model in {out / 'model'}; results in {out / 'result.json'}")


@app.command()
@friendly_errors
def predict(
    model: Path = typer.Option(..., help="a model folder written by htc train (OUT/model)"),
    input: Path = typer.Option(..., "--input", "-i", help="JSONL with a 'token' field"),
    out: Path = typer.Option(..., help="output folder"),
    decoder: str = typer.Option(None, help="decoder (default: the model's)"),
    threshold: float = typer.Option(None, help="threshold/top_down threshold (default: the "
                                    "model's, tuned if trained with --tune)"),
    beta: float = typer.Option(None, help="beta of the optimal decoders (default: the model's)"),
) -> None:
    """Write node probabilities (pred_proba.npy) and decoded labels (pred_pred.jsonl)."""
    from htc.data import read_texts
    from htc.training import Trainer

    trainer = Trainer.load(model)
    texts = read_texts(input)
    cfg = trainer.config
    dec = decoder or cfg.decoder
    th = cfg.threshold if threshold is None else threshold
    b = cfg.decoder_beta if beta is None else beta
    proba, _ = _predict_and_write(trainer, texts, out, "pred", dec, th, b)
    _resolved(proba, trainer.taxonomy, dec, trainer.split_loss)
    note, tuning = "", trainer.tuning
    if tuning and tuning["decoder"] == dec and {"threshold": threshold, "beta": beta}[
            tuning["parameter"]] is None:
        note = f", tuned on dev for {tuning['metric']}"
    console.print(f"{len(texts)} documents ({_decoding(dec, th, b)}{note}) → "
                  f"{out / 'pred_proba.npy'}, {out / 'pred_pred.jsonl'}", highlight=False, soft_wrap=True)


@app.command()
@friendly_errors
@run_folder_command("htc reproduce")
def reproduce(
    encoder: str = typer.Option("frozen", help="tfidf, frozen (MiniLM, cached) or finetune (GPU)"),
    seeds: int = typer.Option(3, help="number of seeds (0..K-1)"),
    epochs: int = typer.Option(20, help="maximum epochs per run (official configs: 20)"),
    out: Path = typer.Option(Path("runs/htc-reproduce"), help="report folder"),
    data_dir: Path = typer.Option(None, help="folder holding hwv/ (default: $HTC_DATA_DIR/hwv when it "
                                  "exists, else the HWV copy that ships with htc)"),
    model: str = typer.Option(None, help="transformers encoder folder (default: MiniLM)"),
    jobs: int = typer.Option(0, help="parallel runs (0: one per CPU core; finetune: 1; ray, "
                             "submitit: the most runs in flight, 0: all)"),
    launcher: str = typer.Option("local", metavar="local|ray|submitit", help="where the runs "
                                 "execute: local (this machine), ray (a Ray cluster at --address; a "
                                 "local Ray instance without it) or submitit (Slurm jobs; "
                                 "--submitit-cluster local to test): docs/scaling-out.md"),
    address: str = typer.Option(None, help="ray: the cluster's address (auto, or "
                                "ray://HOST:10001); none: start a local Ray instance"),
    cpus_per_run: int = typer.Option(1, "--cpus-per-run", help="ray, submitit: CPUs of each run"),
    mem_gb: float = typer.Option(None, "--mem-gb", help="ray, submitit: memory of each run in GB"),
    partition: str = typer.Option(None, help="submitit: the Slurm partition"),
    time_min: int = typer.Option(60, "--time-min", help="submitit: each job's time limit (minutes)"),
    retries: int = typer.Option(1, help="ray, submitit: times a failed run is submitted again; a "
                                "run still failing is reported, not counted"),
    submitit_cluster: str = typer.Option("slurm", "--submitit-cluster", metavar="slurm|local|debug",
                                         help="submitit: slurm, or local / debug to test here"),
) -> None:
    """The paper's comparison on HWV: every loss × decoder × metric over seeds, with a report."""
    from htc.reproduce import ReproduceConfig, run

    if seeds < 1:
        raise ValueError("--seeds must be >= 1")
    if jobs < 0:
        raise ValueError("--jobs must be >= 0")
    if encoder not in ("tfidf", "frozen", "finetune"):
        raise ValueError(f"--encoder must be tfidf, frozen or finetune, got {encoder!r}")
    with _launching(launcher, out, address, cpus_per_run, mem_gb, partition, time_min, retries,
                    submitit_cluster):
        run(ReproduceConfig(encoder=encoder, seeds=seeds, epochs=epochs, out=str(out),
                            data_dir=None if data_dir is None else str(data_dir), model=model,
                            jobs=jobs),
            console)


@contextlib.contextmanager
def _launching(name: str, out: Path, address, cpus_per_run, mem_gb, partition, time_min, retries,
               cluster):
    """The runs of the study inside go to the launcher the ``--launcher`` options name
    (:mod:`htc.launchers`); a missing extra or runs that kept failing become one error line."""
    from htc.launchers import RunsFailed, launching, make_launcher

    where = make_launcher(name, out, address=address, cpus_per_run=cpus_per_run, mem_gb=mem_gb,
                          partition=partition, time_min=time_min, retries=retries, cluster=cluster)
    try:
        with launching(where):
            yield
    except (ImportError, RunsFailed) as e:
        raise ValueError(str(e)) from None


@app.command("multipath-study")
@friendly_errors
@run_folder_command("htc multipath-study")
def multipath_study(
    seeds: int = typer.Option(5, help="number of seeds (a new tree and generator per seed)"),
    out: Path = typer.Option(Path("runs/htc-multipath"), help="report folder"),
    train_docs: int = typer.Option(4000, "--train-docs", help="training documents per seed"),
    test_docs: int = typer.Option(4000, "--test-docs", help="test documents per seed"),
    corpus: str = typer.Option("synthetic", help="synthetic (a generator per seed) or debtags "
                               "(a real corpus: Debian's package descriptions and Debtags, read "
                               "from apt's package index; one model per loss)"),
    packages: list[Path] = typer.Option(None, help="debtags: Packages file(s) to read (default: "
                                        "apt's, after apt-get update)"),
    epochs: int = typer.Option(10, help="debtags: maximum epochs of each model"),
    hidden: int = typer.Option(256, help="debtags: hidden units of each model"),
    launcher: str = typer.Option("local", metavar="local|ray|submitit", help="where the runs "
                                 "execute: local (this machine), ray (a Ray cluster at --address; a "
                                 "local Ray instance without it) or submitit (Slurm jobs; "
                                 "--submitit-cluster local to test): docs/scaling-out.md"),
    address: str = typer.Option(None, help="ray: the cluster's address (auto, or "
                                "ray://HOST:10001); none: start a local Ray instance"),
    cpus_per_run: int = typer.Option(1, "--cpus-per-run", help="ray, submitit: CPUs of each run"),
    mem_gb: float = typer.Option(None, "--mem-gb", help="ray, submitit: memory of each run in GB"),
    partition: str = typer.Option(None, help="submitit: the Slurm partition"),
    time_min: int = typer.Option(60, "--time-min", help="submitit: each job's time limit (minutes)"),
    retries: int = typer.Option(1, help="ray, submitit: times a failed run is submitted again; a "
                                "run still failing is reported, not counted"),
    submitit_cluster: str = typer.Option("slurm", "--submitit-cluster", metavar="slurm|local|debug",
                                         help="submitit: slurm, or local / debug to test here"),
) -> None:
    """Decoders on multi-path data: per-document hF1 of every decoder, with a report. Synthetic
    (about 15 s per seed on 2 cores: README.md, multipath.png, results.json) or the real Debtags
    corpus (every loss × decoder: README-debtags.md, multipath-debtags.png,
    results-debtags.json)."""
    from htc.multipath_study import MultipathStudyConfig, run

    require("htc multipath-study", "sklearn", extra="study")  # before any run is launched
    with _launching(launcher, out, address, cpus_per_run, mem_gb, partition, time_min, retries,
                    submitit_cluster):
        run(MultipathStudyConfig(seeds=seeds, train=train_docs, test=test_docs, out=str(out),
                                 corpus=corpus, packages=tuple(str(p) for p in packages or ()),
                                 epochs=epochs, hidden=hidden), console)


@app.command()
@friendly_errors
def datasets(
    name: str = typer.Argument(None, help="a dataset's name (hwv): print its folder only"),
    verify: bool = typer.Option(False, help="check the files against the released sha256"),
) -> None:
    """The datasets that ship with htc: folder, files, source and licence. ``htc datasets hwv``
    prints the folder alone, for the shell: ``HWV=$(htc datasets hwv)``."""
    from htc.datasets import BUNDLED_SHA256, bundled_dataset, verify_bundled

    if name is not None:
        folder = bundled_dataset(name)
        if verify:
            verify_bundled(name)
        print(folder)
        return
    for ds in BUNDLED_SHA256:
        folder = bundled_dataset(ds)
        table = Table(title=f"{ds}: {escape(str(folder))}", show_header=True)
        for col in ("file", "bytes", "sha256 of the released file" + (" (checked)" if verify else "")):
            table.add_column(col, overflow="fold")
        digests = verify_bundled(ds) if verify else BUNDLED_SHA256[ds]
        for file, digest in digests.items():
            table.add_row(file, f"{(folder / file).stat().st_size:,}", digest)
        console.print(table)
        console.print(f"source and licence (MIT): {escape(str(folder / 'README.md'))}, "
                      f"{escape(str(folder / 'LICENSE'))}", highlight=False, soft_wrap=True)


@app.command()
@friendly_errors
def stats(
    data: list[Path] = typer.Argument(..., help="JSONL files"),
    taxonomy: Path = typer.Option(..., "--taxonomy", "-t", help="taxonomy file"),
) -> None:
    """Dataset statistics: documents, labels, depth histogram, labels and paths per document."""
    from htc.stats import dataset_statistics

    tax = Taxonomy.from_file(taxonomy)
    console.print(f"[bold]{escape(str(taxonomy))}[/]: {tax}")
    for path in data:
        s = dataset_statistics(read_jsonl(path, tax).y, tax)
        table = Table(title=escape(str(path)), show_header=False)
        for key in ("documents", "labels_used", "leaves_used", "labels_per_doc_mean",
                    "labels_per_doc_min", "labels_per_doc_max", "paths_per_doc_mean",
                    "paths_per_doc_max", "multi_path_docs", "docs_ending_at_leaves"):
            v = s[key]
            table.add_row(key.replace("_", " "), f"{v:.3f}" if isinstance(v, float) else str(v))
        hist = " ".join(f"{d}:{c}" for d, c in s["path_end_depth_histogram"].items())
        table.add_row("path-end depth histogram", hist)
        console.print(table)


if __name__ == "__main__":
    app()
