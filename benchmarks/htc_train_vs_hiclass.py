"""htc training against hiclass on the same features, measured in one run.

On HWV (the seeded train/dev split of the official validation file, the official test set), the TF-IDF
+ LSA features of ``htc train --encoder tfidf`` are computed once (timed on their own), then:

- **hiclass**: ``LocalClassifierPerParentNode(LogisticRegression())`` — one classifier per parent
  node, the usual choice of a hiclass user — fitted on the training features (``--hiclass-repeats``
  times; the median time is the reference);
- **ours**: ``Trainer.fit`` with the given loss: the paper's MLP head, early stopping on dev micro-hF1
  (it also scores dev after every epoch, which hiclass does not do), once per schedule and seed.

Both are scored on the test set (micro-hF1; ours decoded top-down at 0.5 and with ``optimal_hf``).

A schedule is ``BATCH:EPOCHS`` or ``BATCH:EPOCHS:LR`` (``--schedules 32:20 256:4:3e-2``; default:
``--batch-size`` and ``--epochs``). Its head learning rate is ``LR``, else ``--lr`` when given, else
1e-3 (the paper's, for batch 32) scaled by ``--lr-scale``: ``sqrt`` (default) multiplies it by
sqrt(BATCH / 32), ``linear`` by BATCH / 32, ``none`` keeps it; at batch 32 all three give 1e-3.
``--seeds 0 1 2`` repeats each schedule with those ``TrainConfig.seed`` values (initialisation and
shuffling; the data split stays that of seed 0) and reports the mean and spread. An untimed one-epoch
fit comes first (numba's decoders and torch's kernels load once per process). ``--threads`` limits
torch, numba and the BLAS/OpenMP pools of both sides, again before every fit.

``--step-batches 32 128 256`` first times one training step (forward, loss, backward, clipping,
AdamW) of the head at those batch sizes and prints the GFLOP/s reached, counting
6 × parameters × batch floating-point operations per step.

Run: ``.venv/bin/python benchmarks/htc_train_vs_hiclass.py [--loss conditional_softmax_la]
[--epochs 20] [--threads 2]``. Compare the ratio, not the absolute times.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from htc.datasets import load_hwv
from htc.decoding import decode
from htc.encoders import TfidfEncoder
from htc.metrics import hierarchical_f1_score
from htc.training import TrainConfig, Trainer
from htc_metrics import as_paths

BASE_BATCH, BASE_LR = 32, 1e-3


def limit_threads(threads: int) -> None:
    """``threads`` for torch, numba (the decoders) and the BLAS/OpenMP pools (hiclass's logistic
    regressions). Applied again before every timed fit, so that no fit runs on a pool another
    library has resized."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    try:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
    threadpool_limits(threads)


def hiclass_fit_predict(x_train, y_train_paths, x_test):
    from hiclass import LocalClassifierPerParentNode
    from sklearn.linear_model import LogisticRegression

    clf = LocalClassifierPerParentNode(local_classifier=LogisticRegression(max_iter=1000), n_jobs=1)
    t = time.perf_counter()
    clf.fit(x_train, y_train_paths)
    seconds = time.perf_counter() - t
    return seconds, clf.predict(x_test)


def schedule_lr(batch: int, lr: float | None, scale: str) -> float:
    if lr is not None:
        return lr
    factor = {"none": 1.0, "sqrt": math.sqrt(batch / BASE_BATCH), "linear": batch / BASE_BATCH}
    return BASE_LR * factor[scale]


def parse_schedule(text: str, lr: float | None, scale: str) -> tuple[int, int, float]:
    """``BATCH:EPOCHS`` or ``BATCH:EPOCHS:LR`` → (batch, epochs, head learning rate)."""
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise SystemExit(f"--schedules: {text!r} is not BATCH:EPOCHS or BATCH:EPOCHS:LR")
    batch, epochs = int(parts[0]), int(parts[1])
    return batch, epochs, float(parts[2]) if len(parts) == 3 else schedule_lr(batch, lr, scale)


def step_profile(cfg: TrainConfig, tax, train, x_train, batches: list[int], console: Console,
                 steps: int = 30) -> list[dict]:
    """Milliseconds per training step of the head (``Trainer.train_step``) at each batch size, and
    the share of it spent in gradient clipping + AdamW."""
    trainer = Trainer(cfg, tax, progress=False)
    trainer._seed()
    trainer._build(train, fit_encoder=False)
    trainer._make_model(x_train.shape[1])
    optimizer = trainer._optimizer()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    y_train = torch.from_numpy(train.y.toarray().astype(np.float32))
    params = sum(p.numel() for p in trainer.model.parameters())
    rng = np.random.default_rng(0)
    rows = []
    for batch in batches:
        idx = [rng.choice(len(train), size=batch, replace=False) for _ in range(steps + 5)]
        for i in idx[:5]:  # warm-up
            trainer.train_step(x_train, y_train, i, optimizer, scheduler)
        t = time.perf_counter()
        for i in idx[5:]:
            trainer.train_step(x_train, y_train, i, optimizer, scheduler)
        ms = (time.perf_counter() - t) / steps * 1e3
        t = time.perf_counter()
        for _ in range(steps):  # clipping + AdamW alone, on the last step's gradients
            torch.nn.utils.clip_grad_norm_(trainer.model.parameters(), cfg.grad_clip)
            optimizer.step()
        ms_opt = (time.perf_counter() - t) / steps * 1e3
        gflop = 6 * params * batch / 1e9
        rows.append({"batch": batch, "ms_per_step": ms, "ms_clip_adamw": ms_opt,
                     "gflop_per_step": gflop, "gflops": gflop / (ms / 1e3),
                     "ms_per_epoch": ms * math.ceil(len(train) / batch)})
    table = Table(title=f"one training step of the head ({params / 1e6:.2f} M parameters), "
                        f"{torch.get_num_threads()} torch thread(s), mean of {steps}")
    for col in ("batch", "ms / step", "of which clip + AdamW", "GFLOP / step", "GFLOP/s",
                f"ms / epoch ({len(train)} docs)"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["batch"]), f"{r['ms_per_step']:.1f}", f"{r['ms_clip_adamw']:.1f}",
                      f"{r['gflop_per_step']:.2f}", f"{r['gflops']:.0f}", f"{r['ms_per_epoch']:.0f}")
    console.print(table)
    return rows


def spread(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return (f"{format(statistics.mean(values), fmt)} ± {format(statistics.stdev(values), fmt)} "
            f"({format(min(values), fmt)}–{format(max(values), fmt)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loss", default="conditional_softmax_la")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=BASE_BATCH)
    ap.add_argument("--schedules", nargs="+", metavar="BATCH:EPOCHS[:LR]",
                    help="several schedules in one run (default: --batch-size:--epochs)")
    ap.add_argument("--lr", type=float, default=None,
                    help="head learning rate of every schedule (default: 1e-3 scaled, --lr-scale)")
    ap.add_argument("--lr-scale", choices=("sqrt", "linear", "none"), default="sqrt",
                    help="how the head learning rate grows with the batch from 1e-3 at batch 32")
    ap.add_argument("--patience", type=int, default=TrainConfig.patience)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hiclass-repeats", type=int, default=1)
    ap.add_argument("--step-batches", type=int, nargs="*", default=[],
                    help="first time one training step at these batch sizes")
    ap.add_argument("--json", default=None, help="also write every measurement to this file")
    args = ap.parse_args()
    limit_threads(args.threads)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    schedules = [parse_schedule(s, args.lr, args.lr_scale) for s in args.schedules] \
        if args.schedules else [(args.batch_size, args.epochs,
                                 schedule_lr(args.batch_size, args.lr, args.lr_scale))]
    hwv = load_hwv()
    tax = hwv.taxonomy
    base = TrainConfig(loss=args.loss, encoder="tfidf", epochs=args.epochs, patience=args.patience)

    t = time.perf_counter()
    features = TfidfEncoder(max_features=base.tfidf_max_features, svd_dim=base.tfidf_svd,
                            seed=base.seed).fit(hwv.train.texts)
    x_train, x_dev, x_test = (features.transform(c.texts) for c in (hwv.train, hwv.dev, hwv.test))
    t_features = time.perf_counter() - t
    out = {"threads": torch.get_num_threads(), "features_s": t_features, "loss": args.loss}

    if args.step_batches:
        out["steps"] = step_profile(base, tax, hwv.train, x_train, args.step_batches, console)

    t_hiclass = []
    for _ in range(args.hiclass_repeats):
        limit_threads(args.threads)
        seconds, paths_pred = hiclass_fit_predict(x_train, as_paths(tax, hwv.train.y), x_test)
        t_hiclass.append(seconds)
    y_hiclass = tax.indicator([[str(lab) for lab in row if str(lab) and str(lab) in tax]
                               for row in paths_pred])
    f_hiclass = hierarchical_f1_score(hwv.test.y, y_hiclass, tax)
    ref = statistics.median(t_hiclass)
    out["hiclass"] = {"fit_s": t_hiclass, "test_h_micro_f": f_hiclass}

    # an untimed epoch first: numba compiles (or loads) the decoders and torch sets up its kernels
    # on the first fit of a process, a one-off cost that hiclass's repeats do not pay either
    Trainer(TrainConfig(loss=args.loss, encoder="tfidf", epochs=1, batch_size=256), tax,
            progress=False).fit(hwv.train, hwv.dev, inputs=(x_train, x_dev))
    runs = []
    for batch, epochs, lr in schedules:
        for seed in args.seeds:
            cfg = TrainConfig(loss=args.loss, encoder="tfidf", epochs=epochs, batch_size=batch,
                              lr_head=lr, patience=args.patience, seed=seed)
            trainer = Trainer(cfg, tax, progress=False)
            trainer.features = features
            limit_threads(args.threads)
            t = time.perf_counter()
            result = trainer.fit(hwv.train, hwv.dev, inputs=(x_train, x_dev))
            t_ours = time.perf_counter() - t
            threads = torch.get_num_threads()
            proba = trainer.predict_proba(hwv.test.texts, inputs=x_test)
            runs.append({
                "batch": batch, "epochs": epochs, "lr_head": lr, "seed": seed, "fit_s": t_ours,
                "torch_threads_after": threads,
                "epochs_run": result["epochs_run"], "best_epoch": result["best_epoch"],
                "test_top_down": hierarchical_f1_score(hwv.test.y, decode(proba, tax, "top_down"),
                                                       tax),
                "test_optimal_hf": hierarchical_f1_score(hwv.test.y,
                                                         decode(proba, tax, "optimal_hf"), tax)})
    out["ours"] = runs
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)

    seeds = ", ".join(map(str, args.seeds))
    table = Table(title=f"HWV, TF-IDF + LSA features ({x_train.shape[1]} dims, computed once in "
                        f"{t_features:.1f} s), {args.threads} thread(s), "
                        f"seed(s) {seeds}: mean ± sd (min–max)")
    for col in ("", "fit (s)", "ours / hiclass", "epochs run (best)", "test micro-hF1 top-down",
                "optimal_hf"):
        table.add_column(col)
    hiclass_fit = f"{ref:.2f}" + (f" median ({min(t_hiclass):.2f}–{max(t_hiclass):.2f})"
                                  if len(t_hiclass) > 1 else "")
    table.add_row("hiclass LocalClassifierPerParentNode(LogisticRegression)", hiclass_fit, "1", "",
                  f"{f_hiclass:.3f}", "")
    for batch, epochs, lr in schedules:
        rs = [r for r in runs if (r["batch"], r["epochs"], r["lr_head"]) == (batch, epochs, lr)]
        fit = [r["fit_s"] for r in rs]
        table.add_row(f"htc Trainer, {args.loss}, batch {batch}, {epochs} epochs, lr "
                      f"{rs[0]['lr_head']:.2g}", spread(fit, ".2f"),
                      f"{statistics.mean(fit) / ref:.2f}×",
                      ", ".join(f"{r['epochs_run']} ({r['best_epoch']})" for r in rs),
                      spread([r["test_top_down"] for r in rs], ".3f"),
                      spread([r["test_optimal_hf"] for r in rs], ".3f"))
    console.print(table)
    for batch, epochs, lr in schedules:
        mean = statistics.mean(r["fit_s"] for r in runs
                               if (r["batch"], r["epochs"], r["lr_head"]) == (batch, epochs, lr))
        console.print(f"batch {batch}, {epochs} epochs, lr {lr:.2g}: ours / hiclass fit time {mean / ref:.2f}× "
                      f"({'faster' if mean < ref else 'slower'})")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
