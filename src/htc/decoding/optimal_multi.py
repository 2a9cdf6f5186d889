"""Exact per-document hF-beta-optimal decoding for multi-path (multi-label) models on trees.

The model of the label set is *tree-factorized*, the distribution of a conditional-sigmoid model:
each node is present, given that its parent is, with probability ``c(n)``, independently of its
siblings; top-level nodes with probability ``c(n) = p(n)``. The truth ``Y`` is then any
ancestor-closed set, possibly with several paths. Marginals ``p`` from any other model are read as
``c(n) = p(n) / p(parent)``, clipped to ``[0, 1]`` (0 when the parent's marginal is 0); the
decoder is exact for the model these conditionals define, which is the model itself for a
conditional sigmoid and an approximation for BCE or CHAMP marginals.

For a candidate ``S`` with ``|S| = k``, the expected hF-beta is linear in ``S`` (Dembczyński et
al., "An exact algorithm for F-measure maximization", NeurIPS 2011, applied to hierarchical sets):

    E[hF_β(S)] = Σ_{n ∈ S} Δ_k(n),   Δ_k(n) = Σ_s (1+β²) · P(n ∈ Y, |Y| = s) / (k + β²·s),

so the best set of size ``k`` is the top-``k`` nodes by ``Δ_k`` and the optimum is the best ``k``.
``n ∈ Y`` whenever a child of ``n`` is, so ``Δ_k(parent) ≥ Δ_k(child)``; ties go to the ancestor
and the result is ancestor-closed. An empty prediction scores 0 (scikit-learn's
``zero_division=0``, as in :mod:`htc.metrics`), so the decoder returns an empty set only when every
marginal is 0.

``P(n ∈ Y, |Y| = s)`` comes from generating functions of subtree sizes, per document:

- bottom-up, ``G_u(z) = z · Π_{c child of u} H_c(z)`` with ``H_c = (1 − c(c)) + c(c)·G_c`` (the
  size of ``u``'s part of ``Y`` given ``u ∈ Y``); ``F = Π_{top-level t} H_t`` is the law of ``|Y|``;
- top-down, ``O_t = Π_{t' ≠ t} H_{t'}`` and ``O_c = O_u · z · Π_{c' ≠ c} H_{c'}`` (the rest of
  ``Y`` given ``c ∈ Y``);
- ``P(n ∈ Y, |Y| = s) = p̃(n) · [z^s] O_n G_n``, ``p̃`` the model's marginals (products of ``c``).

Cost per document: the bottom-up pass merges polynomials whose degree is at most the subtree size
(``O(n · D)``, tree-knapsack style, for ``n`` nodes and sizes up to ``D``); the top-down pass and
``Δ`` are needed only for *candidates*, the likeliest nodes by ``p̃`` found by a best-first walk
(16, doubled while needed): any other node has ``Δ_k`` at most what ``p̃`` allows when its mass
sits at the smallest sizes that ``|Y|`` takes, and the walk stops growing once that bound cannot
reach a top-``k`` that matters. Sizes ``k`` stop when
``Σ_{s≤k} P(|Y|=s)·(1+β²)s/(k+β²s) + P(|Y|>k)`` (a bound on every larger ``k``) falls below the
best value found.

Two truncations make large taxonomies fast, both bounded by ``tol`` (``tol = 0``: none, exact):
each ``H_u`` and each partial product of a node's children drops its top coefficients while
their mass, times the probability that the parent (for ``H_u``) or the node (for the product) is
present, is at most ``tol / (2n)`` (the unlikely
configurations where a subtree holds many nodes), and polynomials are cut at degree ``D``, doubled
from 8 until the law of ``|Y|`` misses at most ``2·tol`` of mass. Every expected hF-beta is then
computed from a sub-measure of the model missing at most ``2·tol``, so within ``2(1+β²)·tol``, and
the decoded set is within ``4(1+β²)·tol`` of the optimum (``tol = 1e-6`` by default).
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from htc.decoding.threads import torch_thread_limit
from htc.metrics.validation import as_proba, check_beta
from htc.taxonomy import Taxonomy

FIRST_DEGREE = 8


def decode_optimal_hf_multi(proba, taxonomy: Taxonomy, *, beta: float = 1.0,
                            tol: float = 1e-6) -> np.ndarray:
    """The prediction maximising expected hF-beta under a tree-factorized (multi-path) model.

    ``proba``: node marginals ``(documents, len(taxonomy))``, read as conditionals
    ``p(n) / p(parent)`` (clipped to [0, 1]); ``tol``: the truncations' error bound (the decoded
    set is within ``4(1+β²)·tol`` of the optimal expected hF-beta; 0: exact). See the module
    docstring for the model and the algorithm.
    Trees only. Returns an ancestor-closed 0/1 ``int8`` matrix.

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> decode_optimal_hf_multi(np.array([[0.9, 0.8, 0.7, 0.2]]), tax).tolist()  # two paths
    [[1, 1, 1, 0]]
    """
    beta = check_beta(beta)
    if not taxonomy.is_tree:
        raise ValueError("optimal_hf_multi needs a tree taxonomy (a node here has several "
                         "parents); use optimal_hf for DAGs")
    tol = float(tol)
    if not 0.0 <= tol < 1.0:
        raise ValueError(f"tol must be in [0, 1), got {tol}")
    p = as_proba(proba.toarray() if sp.issparse(proba) else proba, taxonomy)
    topo = taxonomy.topological_order.astype(np.int64)
    n = len(taxonomy)
    pos = np.empty(n, dtype=np.int64)
    pos[topo] = np.arange(n)
    parent = np.full(n, -1, dtype=np.int64)  # breadth-first positions
    for r in range(n):
        par = taxonomy.parents(int(topo[r]))
        if len(par):
            parent[r] = pos[par[0]]
    out = np.zeros(p.shape, dtype=np.int8)
    with torch_thread_limit():
        _decode_multi_batch(np.ascontiguousarray(p, dtype=np.float64), topo, parent,
                            beta * beta, tol, FIRST_DEGREE, 4 * numba.get_num_threads(), out)
    return out


@njit(cache=True)
def _poly_mul(a, da, b, db, out, d):
    """``out[:e+1] = a[:da+1] · b[:db+1]`` cut at degree ``d``; returns ``e`` (no aliasing)."""
    e = min(da + db, d)
    for s in range(e + 1):
        out[s] = 0.0
    for i in range(min(da, e) + 1):
        ai = a[i]
        if ai == 0.0:
            continue
        for j in range(min(db, e - i) + 1):
            out[i + j] += ai * b[j]
    return e


@njit(cache=True)
def _likeliest(pt, parent, first_child, count):
    """The ``count`` nodes of largest ``p̃`` (breadth-first positions, parents first) and the
    largest ``p̃`` left outside, at the top level and deeper. ``p̃`` never grows down the tree, so a best-first walk from the
    root finds them; the frontier (outside nodes whose parent is inside) is scanned linearly."""
    n = pt.shape[0]
    frontier = np.empty(n, dtype=np.int64)
    size = 0
    for r in range(n):
        if parent[r] < 0:
            frontier[size] = r
            size += 1
    out = np.empty(count, dtype=np.int64)
    for t in range(count):
        best = 0
        for f in range(1, size):
            if pt[frontier[f]] > pt[frontier[best]] or (
                    pt[frontier[f]] == pt[frontier[best]] and frontier[f] < frontier[best]):
                best = f
        r = frontier[best]
        out[t] = r
        size -= 1
        frontier[best] = frontier[size]
        for c in range(first_child[r], first_child[r + 1]):
            frontier[size] = c
            size += 1
    rest_top, rest_deep = 0.0, 0.0  # outside nodes at depth 1, and deeper (depth ≥ 2)
    for f in range(size):
        if parent[frontier[f]] < 0:
            rest_top = max(rest_top, pt[frontier[f]])
        else:
            rest_deep = max(rest_deep, pt[frontier[f]])
    return out, rest_top, rest_deep


@njit(cache=True)
def _size_moments(cond, kid_lo, kid_hi, n_top):
    """Mean and variance of ``|Y|`` (``S_u = 1 + Σ_c B_c S_c`` given ``u ∈ Y``, bottom-up)."""
    m = cond.shape[0]
    m1 = np.empty(m)
    var = np.empty(m)
    for j in range(m - 1, -1, -1):
        a, v = 1.0, 0.0
        for c in range(kid_lo[j], kid_hi[j]):
            e = cond[c] * m1[c]
            a += e
            v += cond[c] * (var[c] + m1[c] * m1[c]) - e * e
        m1[j], var[j] = a, v
    mean, v = 0.0, 0.0
    for t in range(n_top):
        e = cond[t] * m1[t]
        mean += e
        v += cond[t] * (var[t] + m1[t] * m1[t]) - e * e
    return mean, max(v, 0.0)


@njit(cache=True)
def _subtree_polynomials(cond, pt, parent, kid_lo, kid_hi, d, trim, h, g):
    """Bottom-up ``H_u = (1 − c(u)) + c(u)·G_u`` into rows of ``h`` (and ``G_u`` into ``g``, for
    the candidates' joint laws) with their degrees (≤ subtree size, so a merge costs little).
    The top coefficients of each ``H_u`` are dropped while their mass times ``p̃(parent)`` stays
    within ``trim``, and those of ``G_u``'s partial products while their mass times ``p̃(u)``
    does: what a trim removes from the model's total mass, since ``H_u`` counts only when the
    parent is present and ``G_u`` only when ``u`` is. This removes the unlikely configurations
    where a subtree holds many nodes, far more of them in unlikely subtrees."""
    m = cond.shape[0]
    h_deg = np.zeros(m, dtype=np.int64)  # row u of h is valid up to h_deg[u]
    g_deg = np.zeros(m, dtype=np.int64)
    tmp = np.empty(d + 1)
    for j in range(m - 1, -1, -1):  # children come after parents in breadth-first order
        acc = g[j]
        lim = trim / pt[j] if pt[j] > 0.0 else np.inf
        e = _subtree_g(h, h_deg, kid_lo[j], kid_hi[j], acc, tmp, d, lim)
        g_deg[j] = e
        c = cond[j]
        for t in range(e + 1):
            h[j, t] = c * acc[t]
        h[j, 0] += 1.0 - c
        above = pt[parent[j]] if parent[j] >= 0 else 1.0
        lim = trim / above if above > 0.0 else np.inf
        cut = 0.0
        while e > 0 and cut + h[j, e] <= lim:
            cut += h[j, e]
            e -= 1
        h_deg[j] = e
    return h_deg, g_deg


@njit(cache=True)
def _subtree_g(h, h_deg, lo, hi, out, tmp, d, trim):
    """``G_u = z · Π_{children c} H_c`` into ``out`` (``tmp``: scratch); returns its degree.
    After each product the top coefficients are dropped while their mass stays within ``trim``
    (as for ``H``): the partial products keep the degrees that carry mass, not ``d``."""
    out[0], out[1] = 0.0, 1.0  # z (d ≥ 1)
    e = 1
    for c in range(lo, hi):
        e = _poly_mul(out, e, h[c], h_deg[c], tmp, d)
        cut = 0.0
        while e > 1 and cut + tmp[e] <= trim:
            cut += tmp[e]
            e -= 1
        for t in range(e + 1):
            out[t] = tmp[t]
    return e


@njit(cache=True)
def _siblings_product(h, deg, lo, hi, skip, out, tmp, d):
    """``Π_{lo ≤ c < hi, c ≠ skip} H_c`` into ``out`` (``tmp``: scratch); returns its degree."""
    out[0] = 1.0
    e = 0
    for c in range(lo, hi):
        if c != skip:
            e = _poly_mul(out, e, h[c], deg[c], tmp, d)
            for t in range(e + 1):
                out[t] = tmp[t]
    return e


@njit(cache=True)
def _group_outside(h, deg, lo, hi, base, base_deg, o, o_deg, d):
    """``O_c = base · Π_{c' ≠ c} H_{c'}`` for every ``c`` in ``lo..hi-1`` (prefix and suffix
    products: about three merges per member instead of one per pair)."""
    width = hi - lo
    prefix = np.empty((width + 1, d + 1))
    p_deg = np.empty(width + 1, dtype=np.int64)
    prefix[0, :base_deg + 1] = base[:base_deg + 1]
    p_deg[0] = base_deg
    for t in range(width):
        p_deg[t + 1] = _poly_mul(prefix[t], p_deg[t], h[lo + t], deg[lo + t], prefix[t + 1], d)
    suffix = np.empty(d + 1)
    tmp = np.empty(d + 1)
    suffix[0] = 1.0
    s_deg = 0
    for t in range(width - 1, -1, -1):
        o_deg[lo + t] = _poly_mul(prefix[t], p_deg[t], suffix, s_deg, o[lo + t], d)
        s_deg = _poly_mul(suffix, s_deg, h[lo + t], deg[lo + t], tmp, d)
        for u in range(s_deg + 1):
            suffix[u] = tmp[u]


@njit(cache=True)
def _joint_rows(cand, pt_k, h, deg, g_all, g_deg, kpar, kid_lo, kid_hi, n_top, o, o_deg, o_ready,
                done, d, joint):
    """``joint[j] = P(n_j ∈ Y, |Y| = ·)`` for candidates ``cand`` (parents before children);
    the outside polynomials ``O`` are computed a sibling group at a time and kept in ``o``."""
    base = np.empty(d + 1)
    tmp = np.empty(d + 1)
    for j in cand:
        if done[j]:
            continue
        par = kpar[j]
        if not o_ready[j]:
            if par < 0:
                base[0] = 1.0
                lo, hi, b_deg = 0, n_top, 0
            else:
                base[0] = 0.0  # O_parent · z
                b_deg = min(o_deg[par] + 1, d)
                for u in range(1, b_deg + 1):
                    base[u] = o[par, u - 1]
                lo, hi = kid_lo[par], kid_hi[par]
            _group_outside(h, deg, lo, hi, base, b_deg, o, o_deg, d)
            o_ready[lo:hi] = True
        e = _poly_mul(o[j], o_deg[j], g_all[j], g_deg[j], tmp, d)
        joint[j, :] = 0.0
        joint[j, :e + 1] = pt_k[j] * tmp[:e + 1]
        done[j] = True


@njit(cache=True)
def _decode_one(pb, parent, first_child, n_top, b2, tol, d0, ws):
    """Optimal set (breadth-first positions) for one document's validated marginals ``pb``, and
    the workspace: ``ws[0..3]`` hold ``H``, ``G``, ``O`` and the joint laws, one row per node;
    reused across documents (fresh arrays of this size cost more than the decoding), grown when
    a document needs a higher degree."""
    n = pb.shape[0]
    cond = np.empty(n)
    pt = np.empty(n)
    for r in range(n):
        par = parent[r]
        if par < 0:
            cond[r] = pb[r]
            pt[r] = pb[r]
        else:
            cond[r] = min(pb[r] / pb[par], 1.0) if pb[par] > 0.0 else 0.0
            pt[r] = cond[r] * pt[par]
    kid_lo = first_child[:n]
    kid_hi = first_child[1:]
    # start past the sizes that matter (E|Y| + 6 standard deviations + d0): one pass, mostly
    mean, var = _size_moments(cond, kid_lo, kid_hi, n_top)
    d = d0
    while d < mean + 6.0 * np.sqrt(var) + d0:
        d *= 2
    d = max(1, n if tol <= 0.0 else min(n, d))
    while True:
        if ws.shape[2] < d + 1:
            ws = np.empty((4, n, d + 1))
        h, g, o, joint = ws[0], ws[1], ws[2], ws[3]
        deg, g_deg = _subtree_polynomials(cond, pt, parent, kid_lo, kid_hi, d, tol / (2 * n), h, g)
        f = np.zeros(d + 1)
        _siblings_product(h, deg, 0, n_top, -1, f, np.empty(d + 1), d)
        if d >= n or 1.0 - f.sum() <= 2.0 * tol:
            break
        d = min(n, 2 * d)
    o_deg = np.zeros(n, dtype=np.int64)  # rows of o and joint: written for candidates only
    o_ready = np.zeros(n, dtype=np.bool_)
    done = np.zeros(n, dtype=np.bool_)
    sizes = np.arange(d + 1).astype(np.float64)
    n_cand = min(n, 16)
    while True:  # exact Δ for the n_cand likeliest nodes; the others are bounded through p̃
        ranked, p_top, p_deep = _likeliest(pt, parent, first_child, n_cand)
        _joint_rows(ranked, pt, h, deg, g, g_deg, parent, kid_lo, kid_hi, n_top, o, o_deg,
                    o_ready, done, d, joint)
        cand = np.sort(ranked)  # breadth-first order: ties go to parents
        local = _local_parents(parent, cand)
        rows = np.empty((cand.shape[0], d + 1))
        for c in range(cand.shape[0]):
            rows[c, :] = joint[cand[c], :d + 1]
        best_e, best_k, ok = _best_top_k(rows, local, f, sizes, b2, p_top, p_deep)
        if ok or n_cand == n:
            break
        n_cand = min(n, 2 * n_cand)
    if best_e <= 0.0:
        return cand[:0], ws
    delta = np.empty(cand.shape[0])
    _deltas(rows, local, sizes, b2, best_k, delta)
    order = np.argsort(-delta, kind="mergesort")
    return cand[order[:best_k]], ws


@njit(cache=True)
def _local_parents(kpar, cand):
    """Index in ``cand`` (sorted, ancestor-closed) of each candidate's parent, -1 at the top."""
    out = np.full(cand.shape[0], -1, dtype=np.int64)
    j = 0
    for c in range(cand.shape[0]):
        par = kpar[cand[c]]
        if par >= 0:
            while cand[j] < par:  # parents come first and in order: one forward scan
                j += 1
            out[c] = j
    return out


@njit(cache=True)
def _deltas(joint, local, sizes, b2, k, delta):
    """``Δ_k`` of the candidates into ``delta``, made monotone down the tree (only round-off can
    break it; ``local``: parents' indices, parents first)."""
    m, width = joint.shape
    w = np.empty(width)
    for s in range(width):
        w[s] = (1.0 + b2) / (k + b2 * sizes[s])
    for c in range(m):
        acc = 0.0
        for s in range(width):
            acc += joint[c, s] * w[s]
        par = local[c]
        if par >= 0 and acc > delta[par]:
            acc = delta[par]
        delta[c] = acc


@njit(cache=True)
def _outside_bound(p_out, f, b2, k, s_min):
    """Largest ``Δ_k(n)`` possible for a node with ``p̃(n) ≤ p_out`` at depth ``≥ s_min``:
    ``P(n ∈ Y, |Y| = s)`` is at most ``P(|Y| = s)``, 0 below the depth (``n ∈ Y`` brings its
    ancestors), and sums to ``p̃(n)``, so the mass goes to the smallest sizes allowed first."""
    rest, bound = p_out, 0.0
    if p_out <= 0.0:
        return 0.0
    for s in range(s_min, f.shape[0]):
        take = min(f[s], rest)
        bound += take / (k + b2 * s)
        rest -= take
        if rest <= 0.0:
            break
    if rest > 0.0:  # mass beyond the degree cap
        bound += rest / (k + b2 * f.shape[0])
    return (1.0 + b2) * bound


@njit(cache=True)
def _best_top_k(joint, local, f, sizes, b2, p_top, p_deep):
    """(E, k, exact): the best top-``k`` sum; ``exact`` is False when a node outside the
    candidates (``p̃ ≤ p_top`` at the top level, ``≤ p_deep`` deeper) could have entered a
    top-``k`` that was needed."""
    best_e, best_k = -1.0, 0
    m = joint.shape[0]
    d = f.shape[0] - 1
    delta = np.empty(m)
    for k in range(1, m + 1):
        _deltas(joint, local, sizes, b2, k, delta)
        top = np.sort(delta)[::-1]
        outside = max(_outside_bound(p_top, f, b2, k, 1), _outside_bound(p_deep, f, b2, k, 2))
        if outside > 0.0 and top[k - 1] < outside:
            return best_e, best_k, False
        e = top[:k].sum()
        if e > best_e:
            best_e, best_k = e, k
        # every E_k' with k' ≥ k is at most Σ_{s≤k} P(s)·(1+β²)s/(k+β²s) + P(|Y| > k)
        bound, below = 0.0, 0.0
        for t in range(min(k, d) + 1):
            bound += f[t] * (1.0 + b2) * t / (k + b2 * t)
            below += f[t]
        if bound + max(0.0, 1.0 - below) <= best_e:
            return best_e, best_k, True
    return best_e, best_k, p_top <= 0.0 and p_deep <= 0.0


@njit(cache=True, parallel=True)
def _decode_multi_batch(p, topo, parent, b2, tol, d0, chunks, out):
    n = p.shape[1]
    first_child = np.zeros(n + 1, dtype=np.int64)  # children of r: first_child[r]..first_child[r+1]
    counts = np.zeros(n, dtype=np.int64)
    for r in range(n):
        if parent[r] >= 0:
            counts[parent[r]] += 1
    n_top = 0
    for r in range(n):
        if parent[r] < 0:
            n_top += 1
    start = n_top
    for r in range(n):
        first_child[r] = start
        start += counts[r]
    first_child[n] = start
    n_docs = p.shape[0]
    chunks = min(n_docs, chunks)  # one workspace per chunk of documents
    for ch in prange(chunks):
        ws = np.empty((4, n, 2 * d0 + 1))
        pb = np.empty(n)
        for i in range(ch * n_docs // chunks, (ch + 1) * n_docs // chunks):
            for r in range(n):
                pb[r] = p[i, topo[r]]
            kept, ws = _decode_one(pb, parent, first_child, n_top, b2, tol, d0, ws)
            for r in kept:
                out[i, topo[r]] = 1
