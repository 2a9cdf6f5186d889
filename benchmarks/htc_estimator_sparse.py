"""The estimator on TF-IDF text: its sparse first layer against the dense one, in one run.

Data: the Debtags corpus (:mod:`htc.debtags`: Debian package descriptions and their Debtags, read
from apt's package index; run ``apt-get update`` first), the first ``--docs`` packages in a seeded
order, ``TfidfVectorizer(ngram_range=(1, 2), max_features=25_000)``.

1. Training speed at the default width (792) and batch size (32): one epoch of ``--steps`` batches
   with the sparse head (what a sparse ``X`` trains now: ``EmbeddingBag`` + lazy Adam on the batch's rows) and with
   the paper's dense head on the same rows densified (what a sparse ``X`` trained before: each
   batch densified, the whole 25k × 792 first layer updated by AdamW); ratio of the two.
2. ``HierarchicalClassifier(taxonomy)`` with every default (at most 30 epochs, early stopping on a
   10% hold-out) on all ``--docs`` documents: wall time, epochs, hold-out per-document hF1.

Run: ``.venv/bin/python benchmarks/htc_estimator_sparse.py [--docs 20000] [--json out.json]``.
Timings are wall times on this machine (threads: torch's default); compare the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--steps", type=int, default=60, help="batches timed for each head")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()

    import torch
    from sklearn.feature_extraction.text import TfidfVectorizer

    from htc.debtags import load_debtags
    from htc.estimator import HierarchicalClassifier

    corpus = load_debtags()
    order = np.random.default_rng(0).permutation(len(corpus))[:args.docs]
    texts = [corpus.texts[i] for i in order]
    y = corpus.y[order]
    vec = TfidfVectorizer(ngram_range=(1, 2), max_features=25_000)
    x = vec.fit_transform(texts)
    print(f"Debtags: {x.shape[0]:,} documents × {x.shape[1]:,} TF-IDF features "
          f"({x.nnz / x.shape[0]:.1f} non-zeros per document), {len(corpus.taxonomy)} labels; "
          f"{os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}", flush=True)
    figures: dict = {"documents": x.shape[0], "features": x.shape[1],
                     "nnz_per_doc": x.nnz / x.shape[0], "torch_threads": torch.get_num_threads()}

    # 1. one epoch of --steps batches, sparse head vs dense head ---------------------------------
    n = args.steps * 32
    one_epoch = dict(epochs=1, validation_fraction=0, random_state=0)
    times = {}
    for name, rows in (("sparse", x[:n]), ("dense", x[:n].toarray())):
        t0 = time.perf_counter()
        HierarchicalClassifier(corpus.taxonomy, **one_epoch).fit(rows, y[:n])
        times[name] = (time.perf_counter() - t0) / args.steps
        print(f"{name} head: {times[name] * 1e3:.1f} ms per step of 32 documents", flush=True)
    ratio = times["dense"] / times["sparse"]
    print(f"sparse first layer: {ratio:.1f}× faster per step than the dense one", flush=True)
    figures["ms_per_step"] = {k: v * 1e3 for k, v in times.items()}
    figures["dense_over_sparse"] = ratio

    # 2. every default on all documents -----------------------------------------------------------
    t0 = time.perf_counter()
    clf = HierarchicalClassifier(corpus.taxonomy, random_state=0).fit(x, y)
    wall = time.perf_counter() - t0
    print(f"HierarchicalClassifier defaults (loss {clf.loss_}, hidden 792, batch 32, at most 30 "
          f"epochs): fit {wall / 60:.1f} min, {clf.n_iter_} epochs (best {clf.best_epoch_}), "
          f"hold-out per-document hF1 {clf.best_validation_score_:.4f}", flush=True)
    figures["default_fit"] = {"minutes": wall / 60, "epochs": clf.n_iter_,
                              "best_epoch": clf.best_epoch_, "loss": clf.loss_,
                              "holdout_per_doc_hf1": clf.best_validation_score_}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
