"""htc training against hiclass on the same features, measured in one run.

On HWV (the seeded train/dev split of the official validation file, the official test set), the TF-IDF
+ LSA features of ``htc train --encoder tfidf`` are computed once (timed on their own), then:

- **hiclass**: ``LocalClassifierPerParentNode(LogisticRegression())`` — one classifier per parent
  node, the usual choice of a hiclass user — fitted on the training features;
- **ours**: ``Trainer.fit`` with the given loss: the paper's MLP head, early stopping on dev micro-hF1
  (it also scores dev after every epoch, which hiclass does not do).

Both are scored on the test set (micro-hF1; ours decoded top-down at 0.5 and with ``optimal_hf``).

Run: ``.venv/bin/python benchmarks/htc_train_vs_hiclass.py [--loss conditional_softmax_la]
[--epochs 20] [--threads 2]``. Compare the ratio, not the absolute times.
"""

from __future__ import annotations

import argparse
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


def hiclass_fit_predict(x_train, y_train_paths, x_test):
    from hiclass import LocalClassifierPerParentNode
    from sklearn.linear_model import LogisticRegression

    clf = LocalClassifierPerParentNode(local_classifier=LogisticRegression(max_iter=1000), n_jobs=1)
    t = time.perf_counter()
    clf.fit(x_train, y_train_paths)
    seconds = time.perf_counter() - t
    return seconds, clf.predict(x_test)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loss", default="conditional_softmax_la")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    hwv = load_hwv()
    tax = hwv.taxonomy
    cfg = TrainConfig(loss=args.loss, encoder="tfidf", epochs=args.epochs)

    t = time.perf_counter()
    features = TfidfEncoder(max_features=cfg.tfidf_max_features, svd_dim=cfg.tfidf_svd,
                            seed=cfg.seed).fit(hwv.train.texts)
    x_train, x_dev, x_test = (features.transform(c.texts) for c in (hwv.train, hwv.dev, hwv.test))
    t_features = time.perf_counter() - t

    t_hiclass, paths_pred = hiclass_fit_predict(x_train, as_paths(tax, hwv.train.y), x_test)
    y_hiclass = tax.indicator([[str(lab) for lab in row if str(lab) and str(lab) in tax]
                               for row in paths_pred])
    f_hiclass = hierarchical_f1_score(hwv.test.y, y_hiclass, tax)

    trainer = Trainer(cfg, tax, progress=False)
    trainer.features = features
    t = time.perf_counter()
    result = trainer.fit(hwv.train, hwv.dev, inputs=(x_train, x_dev))
    t_ours = time.perf_counter() - t
    proba = trainer.predict_proba(hwv.test.texts, inputs=x_test)
    f_top = hierarchical_f1_score(hwv.test.y, decode(proba, tax, "top_down"), tax)
    f_opt = hierarchical_f1_score(hwv.test.y, decode(proba, tax, "optimal_hf"), tax)

    table = Table(title=f"HWV, TF-IDF + LSA features ({x_train.shape[1]} dims, computed once in "
                        f"{t_features:.1f} s), {torch.get_num_threads()} torch thread(s)")
    for col in ("", "fit (s)", "test micro-hF1"):
        table.add_column(col)
    table.add_row("hiclass LocalClassifierPerParentNode(LogisticRegression)", f"{t_hiclass:.1f}",
                  f"{f_hiclass:.3f}")
    table.add_row(f"htc Trainer, {args.loss} ({result['epochs_run']} epochs, best "
                  f"{result['best_epoch']})", f"{t_ours:.1f}",
                  f"{f_top:.3f} top-down · {f_opt:.3f} optimal_hf")
    console.print(table)
    console.print(f"ours / hiclass fit time: {t_ours / t_hiclass:.2f}× "
                  f"({'faster' if t_ours < t_hiclass else 'slower'})")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
