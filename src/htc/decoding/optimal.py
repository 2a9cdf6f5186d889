"""Exact per-document hF-beta-optimal decoding for single-path models.

A single-path model defines a distribution ``q`` over end nodes ``n`` (the document's truth is
``A⁺(n)``, ``n`` and its ancestors); its node marginals are ``p(m) = Σ_{n ⪰ m} q(n)`` (sum over
``m``'s descendants-or-self). The expected hF-beta of a prediction ``S`` is

    E[hF_β(S)] = Σ_n q(n) · (1+β²) · |S ∩ A⁺(n)| / (|S| + β²·|A⁺(n)|)    (derived; cf. arXiv 2506.01552)

For a fixed size ``|S| = k`` this is linear in the indicator of ``S``, with node weights

    Δ_k(m) = (1+β²) · Σ_{n ⪰ m} q(n) / (k + β²·|A⁺(n)|),

so the best set of size ``k`` is the top-``k`` nodes by ``Δ_k`` and the optimum is the best ``k``.
``Δ_k(parent) ≥ Δ_k(child)``, and ties are broken towards ancestors, so the result is
ancestor-closed.

Implementation: one compiled (numba) kernel per document, documents in parallel.

1. ``q`` from the marginals by Möbius inversion (``q(m) = p(m) − Σ_{n strictly below m} q(n)``,
   in reverse topological order; on a tree ``q(n) = p(n) − Σ_children p(c)``), then clipped at 0
   so that inconsistent marginals (BCE, CHAMP) still define a valid distribution.
2. Pruning. Removing any ``m`` from an optimal ``S`` of size ``k`` cannot help:
   ``Σ_{n⪰m} q(n)/(k−1+β²a_n) ≥ Σ_n q(n)·c_n/((k−1+β²a_n)(k+β²a_n))`` with ``c_n = |S∩A⁺(n)|``,
   hence ``p(m) ≥ E*·(k−1+β²a_m)/((1+β²)(k−1+β²a_max)) ≥ E*·a_m/((1+β²)·a_max)``
   (``a_m = |A⁺(m)|``, ``a_max = max_n a_n``). Likewise ``E_k ≤ (1+β²)·a_max·Σq/(k+β²a_max)``
   bounds the useful sizes. ``E*`` is bounded below by the best single node, then by the best set
   of at most 4 nodes; only nodes above the bound are candidates (a handful of HWV's 1,186).
3. ``Δ_k`` for every candidate and every ``k`` from the per-closure-size subtree sums
   ``Q_a(m) = Σ_{n ⪰ m, |A⁺(n)|=a} q(n)``: ``Δ_k(m) = (1+β²) Σ_a Q_a(m) / (k + β²a)``; for each
   ``k`` the top-``k`` sum after a sort. Candidates are kept in topological order and sorted
   stably, so exact ties (a parent with a single child) go to the ancestor.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import njit, prange
from scipy.sparse.linalg import spsolve_triangular

from htc.decoding.threads import torch_thread_limit
from htc.metrics.validation import as_proba, check_beta
from htc.taxonomy import Taxonomy


def end_node_distribution(proba: np.ndarray, taxonomy: Taxonomy) -> np.ndarray:
    """``q`` with ``p = q @ A`` (Möbius inversion of the marginals), clipped at 0."""
    if taxonomy.is_tree:
        q = proba - np.asarray(taxonomy.parent_matrix.T @ proba.T).T
    else:
        order = taxonomy.topological_order
        d = taxonomy.descendant_matrix[order][:, order].tocsr().astype(np.float64)
        q_perm = spsolve_triangular(d, proba[:, order].T, lower=False)
        q = np.empty_like(proba)
        q[:, order] = np.asarray(q_perm).T
    return np.clip(q, 0.0, None)


def expected_hfbeta(proba, y_pred, taxonomy: Taxonomy, *, beta: float = 1.0) -> np.ndarray:
    """Per-document expected hF-beta of (closed) ``y_pred`` under the path distribution of ``proba``.

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> p = np.array([[0.8, 0.5, 0.3, 0.2]])
    >>> expected_hfbeta(p, [[1, 0, 0, 0]], tax).round(4).tolist()
    [0.5333]
    """
    beta = check_beta(beta)
    p = as_proba(proba, taxonomy)
    q = end_node_distribution(p, taxonomy)
    s = taxonomy.closure(sp.csr_matrix(np.asarray(y_pred)))
    size = np.asarray(s.sum(axis=1)).ravel()
    hits = np.asarray((s.astype(np.float64) @ taxonomy.ancestor_matrix.T).todense())
    b2 = beta * beta
    a = taxonomy.closure_sizes[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        e = (q * (1 + b2) * hits / (size[:, None] + b2 * a)).sum(axis=1)
    return np.where(size > 0, e, 0.0)


def decode_optimal_hf(proba, taxonomy: Taxonomy, *, beta: float = 1.0) -> np.ndarray:
    """The prediction maximising expected hF-beta per document (exact), as a 0/1 matrix.

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> decode_optimal_hf(np.array([[0.8, 0.5, 0.3, 0.2]]), tax).tolist()
    [[1, 1, 0, 0]]
    """
    beta = check_beta(beta)
    p = np.ascontiguousarray(proba.toarray() if sp.issparse(proba) else proba, dtype=np.float64)
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != len(taxonomy):
        as_proba(p, taxonomy)  # raises the shape error
    b2 = beta * beta
    sizes = taxonomy.closure_sizes
    a_vals, a_idx = np.unique(sizes, return_inverse=True)
    a_vals = a_vals.astype(np.float64)
    out = np.zeros(p.shape, dtype=np.int8)
    if not taxonomy.is_tree:
        p = as_proba(p, taxonomy)
    else:
        lay = _tree_layout(taxonomy)
        topo = taxonomy.topological_order
        s_b = sizes[topo]
        bad = np.zeros(len(p), dtype=np.bool_)  # values are checked inside the kernel
        loose = np.zeros(len(p), dtype=np.bool_)  # rows whose children exceed a parent by round-off
        with torch_thread_limit():
            _decode_tree_batch(
                p, bad, loose, topo.astype(np.int64), len(taxonomy.root_children), lay["internal"], lay["clo"],
                lay["chi"], lay["lo"], lay["hi"], np.searchsorted(a_vals, np.arange(1, taxonomy.max_depth + 1)),
                a_vals, (1 + b2) / (1 + b2 * np.arange(1, taxonomy.max_depth + 1.0)),
                s_b / ((1 + b2) * sizes.max()) * (1 - 1e-9),
                float(b2), float(sizes.max()), out,
            )
        if bad.any():
            as_proba(p[bad], taxonomy)  # raises the precise error (NaN, range)
        if loose.any():  # a chosen child whose parent's marginal rounded to below it: its path
            out[loose] = taxonomy.closure(out[loose])
        return out
    d = taxonomy.descendant_matrix.tocsr()
    d.sort_indices()
    strict = (d - sp.identity(len(taxonomy), dtype=d.dtype, format="csr")).tocsr()
    strict.eliminate_zeros()
    strict.sort_indices()
    with torch_thread_limit():
        _decode_dag_batch(
            p, taxonomy.topological_order.astype(np.int64), strict.indptr.astype(np.int64),
            strict.indices.astype(np.int64), d.indptr.astype(np.int64), d.indices.astype(np.int64),
            a_idx.astype(np.int64), a_vals, ((1 + b2) / (1 + b2 * sizes)).astype(np.float64),
            (sizes / ((1 + b2) * sizes.max()) * (1 - 1e-9)).astype(np.float64),
            taxonomy.root_children.astype(np.int64), float(b2), float(sizes.max()), out,
        )
    return out


def _tree_layout(taxonomy: Taxonomy) -> dict[str, np.ndarray]:
    """Breadth-first positions of a tree: children blocks and per-depth subtree ranges.

    In BFS order the children of a node are contiguous, and so are the nodes of a subtree at any
    one depth: ``lo[u, a-1]:hi[u, a-1]`` holds the depth-``a`` part of ``u``'s subtree.
    """
    topo = taxonomy.topological_order
    n = len(topo)
    pos = np.empty(n, dtype=np.int64)
    pos[topo] = np.arange(n)
    depth = taxonomy.depth[topo]
    dmax = taxonomy.max_depth
    lo = np.full((n, dmax), n, dtype=np.int64)
    hi = np.zeros((n, dmax), dtype=np.int64)
    lo[np.arange(n), depth - 1] = np.arange(n)
    hi[np.arange(n), depth - 1] = np.arange(n) + 1
    for r in range(n - 1, -1, -1):
        for par in taxonomy.parents(int(topo[r])):
            pr = pos[par]
            lo[pr] = np.minimum(lo[pr], lo[r])
            hi[pr] = np.maximum(hi[pr], hi[r])
    empty = hi <= lo
    lo[empty] = 0
    hi[empty] = 0
    internal = np.flatnonzero(depth < dmax)
    internal = internal[hi[internal, depth[internal]] > lo[internal, depth[internal]]]
    return {
        "internal": internal[::-1].copy(),  # deepest first
        "clo": lo[internal[::-1], depth[internal[::-1]]].copy(),
        "chi": hi[internal[::-1], depth[internal[::-1]]].copy(),
        "lo": lo,
        "hi": hi,
    }


@njit(cache=True, parallel=True)
def _decode_tree_batch(p, bad, loose, topo, n_top, internal, clo, chi, lo, hi, a_of_depth, a_vals,
                       w_depth, bound, b2, a_max, out):
    n = p.shape[1]
    for i in prange(p.shape[0]):
        row = p[i]
        pb = np.empty(n)
        for r in range(n):  # to breadth-first positions, checking the values on the way
            x = row[topo[r]]
            if not (x >= 0.0 and x <= 1.0):  # NaN fails both
                if x < 0.0 and x >= -1e-9:
                    x = 0.0
                elif x > 1.0 and x <= 1.0 + 1e-9:
                    x = 1.0
                else:
                    bad[i] = True
                    x = 0.0
            pb[r] = x
        if bad[i]:
            continue
        q = pb.copy()
        clipped = False
        for t in range(internal.shape[0]):  # q = p − Σ children p, clipped at 0
            u = internal[t]
            s = 0.0
            for c in range(clo[t], chi[t]):
                s += pb[c]
            qu = q[u] - s
            clipped = clipped or qu < -1e-12  # beyond round-off: inconsistent marginals
            loose[i] = loose[i] or qu < 0.0  # within round-off: a child may pass its parent
            q[u] = max(qu, 0.0)
        pc = pb  # marginals of the clipped q: p itself unless a real inconsistency was clipped
        if clipped:
            pc = q.copy()
            for t in range(internal.shape[0]):
                u = internal[t]
                s = 0.0
                for c in range(clo[t], chi[t]):
                    s += pc[c]
                pc[u] += s
        csum = np.empty(n + 1)
        csum[0] = 0.0
        for r in range(n):
            csum[r + 1] = csum[r] + q[r]
        mass = csum[n]
        e_low = 0.0  # Δ_1 is monotone: the best single node is top-level (BFS 0..n_top-1)
        for r in range(n_top):
            s = 0.0
            for a in range(lo.shape[1]):
                if hi[r, a] > lo[r, a]:
                    s += (csum[hi[r, a]] - csum[lo[r, a]]) * w_depth[a]
            e_low = max(e_low, s)
        if e_low <= 0.0:
            continue
        cand = np.empty(n, dtype=np.int64)  # BFS positions: ancestors first
        k = 0
        for r in range(n):
            if pc[r] > 0.0 and pc[r] >= e_low * bound[r]:
                cand[k] = r
                k += 1
        cand = cand[:k]
        qc = np.zeros((k, a_vals.shape[0]))
        for c in range(k):
            u = cand[c]
            for a in range(lo.shape[1]):
                if hi[u, a] > lo[u, a]:
                    qc[c, a_of_depth[a]] += csum[hi[u, a]] - csum[lo[u, a]]
        chosen = _search(cand, qc, pc, e_low, mass, bound, a_vals, b2, a_max)
        for c in chosen:
            out[i, topo[c]] = 1


@njit(cache=True, parallel=True)
def _decode_dag_batch(p, topo, sptr, sidx, indptr, indices, a_idx, a_vals, w1, bound, top, b2,
                      a_max, out):
    n = p.shape[1]
    for i in prange(p.shape[0]):
        row = p[i]
        q = np.empty(n)
        for r in range(n - 1, -1, -1):  # Möbius inversion over strict descendants, deepest first
            m = topo[r]
            s = 0.0
            for j in range(sptr[m], sptr[m + 1]):
                s += q[sidx[j]]
            q[m] = row[m] - s
        q = np.maximum(q, 0.0)
        pc = np.empty(n)
        e_low = 0.0
        for m in range(n):
            s, s1 = 0.0, 0.0
            for j in range(indptr[m], indptr[m + 1]):
                s += q[indices[j]]
                s1 += q[indices[j]] * w1[indices[j]]
            pc[m] = s
            e_low = max(e_low, s1)
        if e_low <= 0.0:
            continue
        cand = np.empty(n, dtype=np.int64)
        k = 0
        for r in range(n):
            m = topo[r]
            if pc[m] > 0.0 and pc[m] >= e_low * bound[m]:
                cand[k] = m
                k += 1
        cand = cand[:k]
        qc = np.zeros((k, a_vals.shape[0]))
        for c in range(k):
            m = cand[c]
            for j in range(indptr[m], indptr[m + 1]):
                qc[c, a_idx[indices[j]]] += q[indices[j]]
        for c in _search(cand, qc, pc, e_low, q.sum(), bound, a_vals, b2, a_max):
            out[i, c] = 1


@njit(cache=True)
def _search(cand, qc, pc, e_low, mass, bound, a_vals, b2, a_max):
    """The optimal set among candidates (listed ancestors first) with subtree sums ``qc``."""
    # pass 1: sizes ≤ 4 raise the lower bound on E*; pass 2: exact search over what is left
    e1, _k = _best_size(qc, a_vals, b2, _size_limit(len(cand), mass, e_low, b2, a_max, 4))
    e_low = max(e_low, e1)
    keep = np.zeros(len(cand), dtype=np.bool_)
    for c in range(len(cand)):
        keep[c] = pc[cand[c]] >= e_low * bound[cand[c]]
    cand, qc = cand[keep], qc[keep]
    _e, best_k = _best_size(qc, a_vals, b2, _size_limit(len(cand), mass, e_low, b2, a_max, 0))
    if best_k == 0:
        return cand[:0]
    delta = _deltas(qc, a_vals, b2, best_k, np.empty(len(cand)))
    scale = delta.max() if delta.max() > 0 else 1.0
    # round away last-bit noise so that exact ties (a parent with one child) go to the ancestor
    key = -np.floor(delta / scale * 1e11 + 0.5)
    order = np.argsort(key, kind="mergesort")
    return cand[order[:best_k]]


@njit(cache=True)
def _size_limit(n_cand, mass, e_low, b2, a_max, cap):
    """Largest useful size: ``E_k ≤ (1+β²)·a_max·Σq/(k+β²a_max)`` must reach ``e_low``."""
    k = int(np.floor((1 + b2) * a_max * mass / e_low - b2 * a_max + 1e-9))
    k = min(max(k, 1), n_cand)
    return min(k, cap) if cap > 0 else k


@njit(cache=True)
def _deltas(qc, a_vals, b2, k, buf):
    """``buf[c] = Δ_k(cand c) = (1+β²) Σ_a Q_a(c) / (k + β²a)`` (explicit loops: tiny sizes)."""
    n_a = a_vals.shape[0]
    for c in range(qc.shape[0]):
        s = 0.0
        for a in range(n_a):
            s += qc[c, a] / (k + b2 * a_vals[a])
        buf[c] = (1 + b2) * s
    return buf


@njit(cache=True)
def _best_size(qc, a_vals, b2, k_lim):
    """(E, k) of the best top-k set over k = 1..k_lim; E_k = Σ of the k largest Δ_k."""
    best_e, best_k = 0.0, 0
    buf = np.empty(qc.shape[0])
    for k in range(1, k_lim + 1):
        delta = _deltas(qc, a_vals, b2, k, buf)
        delta.sort()
        e = 0.0
        for r in range(len(delta) - k, len(delta)):
            e += delta[r]
        if e > best_e:
            best_e, best_k = e, k
    return best_e, best_k
