"""Speed of htc's metrics and decoders against the references, measured in one run.

On the HWV taxonomy (1,186 labels; a random taxonomy of the same size if HWV is not found):

1. micro and per-document ("samples"; hiclass calls it "macro") hierarchical F1 on 100,000
   synthetic documents, against ``hiclass.metrics.f1`` (same definitions; values are checked equal),
   then against the cost of reading the input once (``np.count_nonzero`` over every matrix the metric
   reads) for dense, mixed and sparse input, with the SciPy route (closure by a sparse product) beside;
2. ``optimal_hf`` decoding, µs per document, against a plain per-document NumPy/SciPy
   implementation of the same algorithm (expected hF1 checked equal); ``optimal_hf_multi``
   (multi-path, tree-factorized marginals from a conditional-sigmoid generator) beside
   ``optimal_hf`` on the same marginals (the ratio optimal_hf_multi / optimal_hf per document, on
   this taxonomy and on a two-level one of about 600 labels), its exact mode (``tol=0``) on a
   sample, and its first call in a new process (compiled kernels read from numba's cache);
3. hF1-AUC, ms per document, against a per-document threshold sweep as the official code does it.

Run: ``.venv/bin/python benchmarks/htc_metrics.py [--docs 100000] [--json out.json]``.
Timings are best-of-N wall times; compare the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np
import scipy.sparse as sp
from rich.console import Console
from rich.table import Table

from htc import Taxonomy
from htc.datasets import (
    ConditionalSigmoidModel,
    find_dataset,
    random_taxonomy,
    sample_labels,
    sample_marginals,
)
from htc.decoding import decode, decode_optimal_hf, decode_optimal_hf_multi, expected_hfbeta
from htc.metrics import hierarchical_pr_auc, hierarchical_precision_recall_fscore
from htc.metrics.flat import counts_to_prf


def best_time(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def as_paths(tax: Taxonomy, y) -> np.ndarray:
    """hiclass input: one row per document, labels root→leaf, padded with ''."""
    y = sp.csr_matrix(y)
    out = np.full((y.shape[0], tax.max_depth), "", dtype=object)
    for i in range(y.shape[0]):
        cols = y.indices[y.indptr[i] : y.indptr[i + 1]]
        cols = cols[np.argsort(tax.depth[cols], kind="stable")]
        out[i, : len(cols)] = [tax.nodes[j] for j in cols]
    return out


def plain_optimal_hf(p: np.ndarray, tax: Taxonomy, beta: float = 1.0) -> np.ndarray:
    """The same algorithm as ``decode(..., "optimal_hf")``, one document at a time (NumPy/SciPy)."""
    b2 = beta * beta
    d = tax.descendant_matrix.astype(np.float64).tocsr()
    sizes = tax.closure_sizes
    a_vals = np.unique(sizes)
    blocks = [d[:, sizes == a] for a in a_vals]
    w1 = (1 + b2) / (1 + b2 * sizes)
    bound = sizes / ((1 + b2) * sizes.max())
    children_sum = tax.parent_matrix.T.astype(np.float64).tocsr()
    topo_rank = np.empty(len(tax), dtype=np.int64)
    topo_rank[tax.topological_order] = np.arange(len(tax))
    out = np.zeros(p.shape, dtype=np.int8)
    for i, row in enumerate(p):
        q = np.clip(row - children_sum @ row, 0, None)
        pc = d @ q
        e_low = (d @ (q * w1)).max()
        if e_low <= 0:
            continue
        cand = np.flatnonzero((pc > 0) & (pc >= e_low * bound * (1 - 1e-9)))
        cand = cand[np.argsort(topo_rank[cand])]
        qa = np.stack([blk[cand] @ q[sizes == a] for a, blk in zip(a_vals, blocks)], axis=1)
        k_lim = min(len(cand), int((1 + b2) * sizes.max() * q.sum() / e_low - b2 * sizes.max()))
        best_e, best_k = 0.0, 0
        for k in range(1, max(k_lim, 1) + 1):
            e = np.sort(qa @ ((1 + b2) / (k + b2 * a_vals)))[-k:].sum()
            if e > best_e:
                best_e, best_k = e, k
        delta = qa @ ((1 + b2) / (best_k + b2 * a_vals))
        key = -np.round(delta / delta.max(), 11)
        out[i, cand[np.argsort(key, kind="stable")[:best_k]]] = 1
    return out


def official_style_auc(y_true, proba, tax: Taxonomy) -> float:
    """Per-document threshold sweep with Python sets, as the official ``compute_curve_hf1``."""
    t_sets = tax.labels_of(y_true)
    areas = []
    for labels, p in zip(t_sets, proba):
        truth = set(tax.indices(labels).tolist())
        pts = [(0.0, 1.0)]
        for th in sorted(set(p.tolist()), reverse=True):
            pred = set(np.flatnonzero(p >= th).tolist())
            pred = set(np.flatnonzero(np.asarray(tax.ancestor_matrix[list(pred)].sum(0)).ravel()))
            tp = len(pred & truth)
            pts.append((tp / len(truth), tp / len(pred)))
            if tp == len(truth):
                break
        areas.append(sum((r1 - r0) * (p1 + p0) / 2 for (r0, p0), (r1, p1) in zip(pts, pts[1:])))
    return float(np.mean(areas))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--decode-docs", type=int, default=20_000)
    ap.add_argument("--multi-docs", type=int, default=5_000)
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()
    console = Console()
    if not console.is_terminal:  # a log or a pipe: one table row per line
        console = Console(width=220)
    warnings.filterwarnings("ignore", message="F-score is ill-defined")  # hiclass, per document
    try:
        tax = Taxonomy.from_file(find_dataset("hwv", ["hwv.taxonomy"]) / "hwv.taxonomy")
        source = "HWV taxonomy"
    except FileNotFoundError:
        tax = random_taxonomy(5, (2, 6), seed=0)
        source = "random taxonomy (HWV not found)"
    console.print(f"[bold]{source}[/]: {tax}; {os.cpu_count()} CPU cores")
    rows, figures = [], {}

    # 1. hierarchical F1 vs hiclass -------------------------------------------------------------
    y_true = sample_labels(tax, args.docs, seed=0)
    y_pred = sample_labels(tax, args.docs, mandatory_leaf=False, seed=1).toarray()
    hit = np.random.default_rng(0).random(args.docs) < 0.5
    y_pred[hit] = y_true[np.flatnonzero(hit)].toarray()
    paths = None  # hiclass's input format, built once outside the timings
    for avg, their_avg in (("micro", "micro"), ("samples", "macro")):
        t_ours, ours = best_time(
            lambda avg=avg: hierarchical_precision_recall_fscore(y_true, y_pred, tax, average=avg))
        try:
            from hiclass import metrics as hm

            if paths is None:
                paths = (as_paths(tax, y_true), as_paths(tax, y_pred))
            t_ref, theirs = best_time(
                lambda a=their_avg, tp=paths[0], pp=paths[1]: hm.f1(tp, pp, average=a), 1)
            assert abs(theirs - ours[2]) < 1e-12, (theirs, ours[2])
            ratio = t_ref / t_ours
            ref_s = f"{t_ref:.3f} s"
        except ImportError:
            t_ref, ratio, ref_s = float("nan"), float("nan"), "hiclass not installed"
        target = 50 if avg == "micro" else 500
        name = f"hF1 {avg} ({args.docs:,} docs)"
        rows.append((name, f"{t_ours * 1e3:.1f} ms", f"hiclass {their_avg}: {ref_s}",
                     f"{ratio:,.0f}×", f"≥ {target}×"))
        figures[f"hf1_{avg}"] = {"ours_s": t_ours, "hiclass_s": t_ref, "ratio": ratio,
                                 "target_ratio": target, "value": ours[2]}

    # 1b. the same scores against the cost of reading the input once ------------------------------
    # floor: one np.count_nonzero pass over every dense matrix the metric reads (for CSR input: over
    # its data, indices and indptr); the SciPy route (closure by a sparse product, an elementwise
    # product, row sums: what the metrics did before the one-pass kernel) for scale
    t_dense, p_dense = y_true.toarray().astype(np.int8), np.ascontiguousarray(y_pred, dtype=np.int8)
    t_csr, p_csr = sp.csr_matrix(t_dense), sp.csr_matrix(p_dense)
    hierarchical_precision_recall_fscore(t_dense[:8], p_dense[:8], tax)  # compile outside the timing

    def scipy_route(t, p, avg):
        tc, pc = tax.closure(sp.csr_matrix(t)), tax.closure(sp.csr_matrix(p))
        counts = [np.asarray(m.sum(axis=1)).ravel() for m in (tc.multiply(pc), pc, tc)]
        return counts_to_prf(*counts, 1.0, avg, 0.0)

    cases = (("dense truth + dense prediction", t_dense, p_dense, (t_dense, p_dense)),
             ("sparse truth + dense prediction", t_csr, p_dense, (p_dense,)),
             ("sparse truth + sparse prediction", t_csr, p_csr,
              (t_csr.data, t_csr.indices, t_csr.indptr, p_csr.data, p_csr.indices, p_csr.indptr)))
    for label, t, p, read in cases:
        t_floor, _ = best_time(lambda read=read: [np.count_nonzero(a) for a in read], 5)
        for avg in ("micro", "samples"):
            t_ours, ours = best_time(
                lambda t=t, p=p, avg=avg: hierarchical_precision_recall_fscore(t, p, tax, average=avg), 5)
            t_scipy, via_scipy = best_time(lambda t=t, p=p, avg=avg: scipy_route(t, p, avg), 2)
            assert np.allclose(ours, via_scipy, atol=1e-12), (ours, via_scipy)
            key = f"hf1_{avg}_{label.split()[0]}_{label.split()[3]}"
            rows.append((f"hF1 {avg}, {label} ({args.docs:,} docs)", f"{t_ours * 1e3:.1f} ms",
                         f"count_nonzero floor: {t_floor * 1e3:.1f} ms · SciPy route: "
                         f"{t_scipy * 1e3:.0f} ms", f"{t_ours / t_floor:.1f}× the floor · "
                         f"{t_scipy / t_ours:.1f}× faster", "≤ 3× the floor"))
            figures[key] = {"ours_s": t_ours, "floor_s": t_floor, "scipy_route_s": t_scipy,
                            "times_floor": t_ours / t_floor, "vs_scipy_route": t_scipy / t_ours}

    # 2. optimal hF decoding -------------------------------------------------------------------
    y_dec = sample_labels(tax, args.decode_docs, seed=2)
    proba = sample_marginals(tax, y_dec, sharpness=8.0, noise=1.0, seed=2)
    decode(proba[:8], tax, "optimal_hf")  # compile the kernel outside the timing
    t_ours, out = best_time(lambda: decode(proba, tax, "optimal_hf"))
    n_ref = min(300, args.decode_docs)
    t_ref, out_ref = best_time(lambda: plain_optimal_hf(proba[:n_ref], tax), 1)
    e_ours = expected_hfbeta(proba[:n_ref], out[:n_ref], tax)
    e_ref = expected_hfbeta(proba[:n_ref], out_ref, tax)
    assert np.allclose(e_ours, e_ref, atol=1e-9), "optimal_hf disagrees with the reference"
    us_ours, us_ref = t_ours / args.decode_docs * 1e6, t_ref / n_ref * 1e6
    rows.append((f"optimal_hf ({args.decode_docs:,} docs)", f"{us_ours:.1f} µs/doc",
                 f"per-document NumPy: {us_ref:.0f} µs/doc", f"{us_ref / us_ours:,.0f}×",
                 "≤ 20 µs/doc"))
    figures["optimal_hf"] = {"ours_us_per_doc": us_ours, "plain_us_per_doc": us_ref,
                             "ratio": us_ref / us_ours, "target_us_per_doc": 20,
                             "mean_expected_hf1": float(e_ours.mean())}

    # 2b. multi-path optimal hF decoding: optimal_hf_multi / optimal_hf per document --------------
    # on the taxonomy above and on a two-level one of about 600 labels (the shape of Debtags),
    # the same conditional-sigmoid marginals for both decoders; first call: from numba's cache
    two_level = random_taxonomy(2, (16, 28), seed=0)
    t0 = time.perf_counter()
    decode_optimal_hf_multi(np.full((1, len(two_level)), 0.5), two_level)
    first_call = time.perf_counter() - t0
    figures["optimal_hf_multi"] = {"first_call_s": first_call}
    for name, t_tax in ((source, tax), (f"two-level taxonomy, {len(two_level)} labels", two_level)):
        gen = ConditionalSigmoidModel.random(t_tax, seed=3)
        _, y_multi, p_multi = gen.sample(args.multi_docs, seed=4)
        decode_optimal_hf_multi(p_multi[:8], t_tax)  # compile outside the timing
        t_multi, out_multi = best_time(lambda p=p_multi, t=t_tax: decode_optimal_hf_multi(p, t))
        t_single, _ = best_time(lambda p=p_multi, t=t_tax: decode_optimal_hf(p, t))
        n_exact = min(50, args.multi_docs)
        t_exact, out_exact = best_time(
            lambda p=p_multi[:n_exact], t=t_tax: decode_optimal_hf_multi(p, t, tol=0), 1)
        same = int((out_exact == out_multi[:n_exact]).all(axis=1).sum())
        us_multi, us_single = t_multi / args.multi_docs * 1e6, t_single / args.multi_docs * 1e6
        us_exact = t_exact / n_exact * 1e6
        labels = float(np.asarray(y_multi.sum(axis=1)).mean())
        rows.append((f"optimal_hf_multi, {name} ({args.multi_docs:,} docs, {labels:.1f} "
                     "labels/doc)", f"{us_multi:.0f} µs/doc",
                     f"optimal_hf, same marginals: {us_single:.0f} µs/doc",
                     f"multi / single: {us_multi / us_single:.1f}×", "≤ 3× optimal_hf"))
        rows.append((f"optimal_hf_multi exact, tol=0 ({n_exact} docs)", f"{us_exact:.0f} µs/doc",
                     f"default tol=1e-6: same sets on {same}/{n_exact} docs", "", ""))
        figures["optimal_hf_multi"][name] = {
            "us_per_doc": us_multi, "single_path_us_per_doc": us_single,
            "multi_over_single": us_multi / us_single, "exact_us_per_doc": us_exact,
            "exact_same_sets": same, "exact_docs": n_exact, "labels_per_doc": labels}
    rows.append(("optimal_hf_multi first call (kernels from numba's cache)",
                 f"{first_call:.1f} s", "", "", "≤ 5 s"))

    # 3. hF1-AUC --------------------------------------------------------------------------------
    t_ours, auc = best_time(lambda: hierarchical_pr_auc(y_dec, proba, tax))
    n_ref = min(50, args.decode_docs)
    t_ref, auc_ref = best_time(lambda: official_style_auc(y_dec[:n_ref], proba[:n_ref], tax), 1)
    auc_small = hierarchical_pr_auc(y_dec[:n_ref], proba[:n_ref], tax)
    assert abs(auc_small - auc_ref) < 1e-9, (auc_small, auc_ref)
    ms_ours, ms_ref = t_ours / args.decode_docs * 1e3, t_ref / n_ref * 1e3
    rows.append((f"hF1-AUC ({args.decode_docs:,} docs)", f"{ms_ours:.3f} ms/doc",
                 f"per-document sweep: {ms_ref:.2f} ms/doc", f"{ms_ref / ms_ours:,.0f}×",
                 "≤ 0.5 ms/doc"))
    figures["hf1_auc"] = {"ours_ms_per_doc": ms_ours, "sweep_ms_per_doc": ms_ref,
                          "ratio": ms_ref / ms_ours, "target_ms_per_doc": 0.5, "value": auc}

    table = Table(title="htc metrics and decoders: ours vs reference (one run)")
    for col in ("task", "ours", "reference", "speed-up", "target"):
        table.add_column(col)
    for r in rows:
        table.add_row(*r)
    console.print(table)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"source": source, "cpu_count": os.cpu_count(), **figures}, fh, indent=2)
        console.print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
