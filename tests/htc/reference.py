"""Slow, obviously-correct reference implementations on Python sets, for property tests."""

from __future__ import annotations

import itertools

import numpy as np

from htc import Taxonomy


def anc_self(tax: Taxonomy, i: int) -> frozenset[int]:
    out = {i}
    for p in tax.parents(i):
        out |= anc_self(tax, int(p))
    return frozenset(out)


def close(tax: Taxonomy, s) -> frozenset[int]:
    out: set[int] = set()
    for j in s:
        out |= anc_self(tax, j)
    return frozenset(out)


def rows(m) -> list[frozenset[int]]:
    a = np.asarray(m.toarray() if hasattr(m, "toarray") else m)
    return [frozenset(np.flatnonzero(r).tolist()) for r in a]


def div(a, b, zd=0.0):
    return a / b if b else zd


def fb(p, r, beta):
    b2 = beta * beta
    return div((1 + b2) * p * r, b2 * p + r)


def hier(tax, y_true, y_pred, average="micro", beta=1.0, depth=None, weighting="groups"):
    T = [close(tax, s) for s in rows(y_true)]
    P = [close(tax, s) for s in rows(y_pred)]
    if depth is not None:
        T = [frozenset(j for j in s if tax.depth[j] <= depth) for s in T]
        P = [frozenset(j for j in s if tax.depth[j] <= depth) for s in P]
    if average == "micro":
        tp = sum(len(t & p) for t, p in zip(T, P))
        hp, hr = div(tp, sum(map(len, P))), div(tp, sum(map(len, T)))
        return hp, hr, fb(hp, hr, beta)
    if average == "samples":
        ps = [div(len(t & p), len(p)) for t, p in zip(T, P)]
        rs = [div(len(t & p), len(t)) for t, p in zip(T, P)]
        fs = [fb(a, b, beta) for a, b in zip(ps, rs)]
        return np.mean(ps), np.mean(rs), np.mean(fs)
    if average == "macro":
        nodes = sorted(set().union(*T, *P))
        ps, rs, fs = [], [], []
        for y in nodes:
            tp = sum(1 for t, p in zip(T, P) if y in t and y in p)
            npred = sum(1 for p in P if y in p)
            ntrue = sum(1 for t in T if y in t)
            ps.append(div(tp, npred))
            rs.append(div(tp, ntrue))
            fs.append(fb(ps[-1], rs[-1], beta))
        return np.mean(ps), np.mean(rs), np.mean(fs)
    # leaf
    groups: dict[int, list[int]] = {}
    for i, t in enumerate(T):
        if depth is not None:
            ends = [j for j in t if tax.depth[j] == depth]
        else:
            ends = [j for j in t if not any(int(c) in t for c in tax.children(j))]
        for g in ends:
            groups.setdefault(g, []).append(i)
    hps, hrs, ws = [], [], []
    for _g, members in groups.items():
        tp = sum(len(T[i] & P[i]) for i in members)
        hps.append(div(tp, sum(len(P[i]) for i in members)))
        hrs.append(div(tp, sum(len(T[i]) for i in members)))
        ws.append(len(members) if weighting == "documents" else 1)
    hp, hr = np.average(hps, weights=ws), np.average(hrs, weights=ws)
    return hp, hr, fb(hp, hr, beta)


def c_metrics(tax, y_true, y_pred, average="micro", beta=1.0):
    T = [close(tax, s) for s in rows(y_true)]
    P = rows(y_pred)
    n = len(tax)
    tp = np.zeros((len(T), n))
    for i, (t, p) in enumerate(zip(T, P)):
        for y in p:
            if y in t and (anc_self(tax, y) - {y}) <= p:
                tp[i, y] = 1
    pred = np.array([[y in p for y in range(n)] for p in P], dtype=float)
    true = np.array([[y in t for y in range(n)] for t in T], dtype=float)
    if average == "micro":
        hp, hr = div(tp.sum(), pred.sum()), div(tp.sum(), true.sum())
        return hp, hr, fb(hp, hr, beta)
    ps = [div(tp[:, y].sum(), pred[:, y].sum()) for y in range(n)]
    rs = [div(tp[:, y].sum(), true[:, y].sum()) for y in range(n)]
    return np.mean(ps), np.mean(rs), np.mean([fb(a, b, beta) for a, b in zip(ps, rs)])


def lca_sets(tax, t: frozenset, p: frozenset):
    """Reference LCA augmentation, written from the definition with plain loops."""
    def ends(s):
        return [j for j in sorted(s) if not (set(map(int, tax.children(j))) & s)]

    pm, tm = ends(p), ends(t)
    if not pm or not tm:
        return set(p), set(t)
    desc = {j: {k for k in range(len(tax)) if j in anc_self(tax, k)} for j in range(len(tax))}

    def lca(a, b):
        common = anc_self(tax, a) & anc_self(tax, b)
        if not common:
            return None
        best = max(tax.depth[j] for j in common)
        return min(j for j in common if tax.depth[j] == best)

    def depth_of(a):
        return -1 if a is None else tax.depth[a]

    pairs = set()
    for x in pm:
        best = max(tm, key=lambda y: (depth_of(lca(x, y)), -x, -y))
        pairs.add((x, best))
    for y in tm:
        best = max(pm, key=lambda x: (depth_of(lca(x, y)), -x, -y))
        pairs.add((best, y))
    ap, at = set(), set()
    for x, y in pairs:
        a = lca(x, y)
        ap |= anc_self(tax, x) if a is None else anc_self(tax, x) & desc[a]
        at |= anc_self(tax, y) if a is None else anc_self(tax, y) & desc[a]
    return ap, at


def lca_prf(tax, y_true, y_pred, beta=1.0):
    T = [close(tax, s) for s in rows(y_true)]
    P = [close(tax, s) for s in rows(y_pred)]
    tp = npred = ntrue = 0
    for t, p in zip(T, P):
        ap, at = lca_sets(tax, t, p)
        tp += len(ap & at)
        npred += len(ap)
        ntrue += len(at)
    hp, hr = div(tp, npred), div(tp, ntrue)
    return hp, hr, fb(hp, hr, beta)


def pr_auc(tax, y_true, proba, augment=True):
    T = [close(tax, s) for s in rows(y_true)]
    out = []
    for t, p in zip(T, np.asarray(proba)):
        if not t:
            continue
        pts = [(0.0, 1.0)]
        for th in sorted(set(p.tolist()), reverse=True):
            s = {j for j in range(len(p)) if p[j] >= th}
            if augment:
                s = close(tax, s)
            pts.append((len(s & t) / len(t), div(len(s & t), len(s))))
        area = sum((r1 - r0) * (p1 + p0) / 2 for (r0, p0), (r1, p1) in zip(pts, pts[1:]))
        out.append(area)
    return np.mean(out)


# ------------------------------------------------------------------------------------ decoders
def top_down(tax, proba, t):
    """Keep a node when p >= t and every parent is kept (the root always is); fixpoint."""
    out = np.zeros(proba.shape, dtype=np.int8)
    for i, p in enumerate(proba):
        kept: set[int] = set()
        changed = True
        while changed:
            changed = False
            for y in range(len(tax)):
                if y not in kept and p[y] >= t and all(int(q) in kept for q in tax.parents(y)):
                    kept.add(y)
                    changed = True
        out[i, list(kept)] = 1
    return out


def greedy_leaf(tax, proba):
    out = np.zeros(proba.shape, dtype=np.int8)
    for i, p in enumerate(proba):
        node = -1
        s = set()
        while len(tax.children(node)):
            kids = [int(c) for c in tax.children(node)]
            node = kids[int(np.argmax([p[c] for c in kids]))]
            s.add(node)
        out[i, list(close(tax, s))] = 1
    return out


def argmax_leaf(tax, proba):
    out = np.zeros(proba.shape, dtype=np.int8)
    leaves = [j for j in range(len(tax)) if len(tax.children(j)) == 0]
    for i, p in enumerate(proba):
        best = leaves[int(np.argmax([p[j] for j in leaves]))]
        out[i, list(anc_self(tax, best))] = 1
    return out


def end_distribution(tax, p):
    """q with p(m) = Σ_{n: m ∈ A⁺(n)} q(n), by a dense solve, clipped at 0."""
    n = len(tax)
    a = np.array([[1.0 if m in anc_self(tax, k) else 0.0 for m in range(n)] for k in range(n)])
    return np.clip(np.linalg.solve(a.T, p), 0, None)


def expected_hf(tax, q, s: frozenset, beta=1.0):
    if not s:
        return 0.0
    b2 = beta * beta
    total = 0.0
    for n in range(len(tax)):
        a = anc_self(tax, n)
        total += q[n] * (1 + b2) * len(s & a) / (len(s) + b2 * len(a))
    return total


def best_expected_hf(tax, p, beta=1.0) -> float:
    """Exhaustive search over every non-empty node subset."""
    q = end_distribution(tax, p)
    best = 0.0
    nodes = range(len(tax))
    for k in range(1, len(tax) + 1):
        for s in itertools.combinations(nodes, k):
            best = max(best, expected_hf(tax, q, frozenset(s), beta))
    return best


def closed_sets(tax) -> np.ndarray:
    """Every ancestor-closed node set of a tree (empty set included), as 0/1 rows."""
    n = len(tax)
    parent = [tax.parents(i)[0] if len(tax.parents(i)) else -1 for i in range(n)]
    sets = [()]
    for i in tax.topological_order:  # grow closed sets node by node, parents first
        sets += [s + (int(i),) for s in sets if parent[i] < 0 or parent[i] in s]
    out = np.zeros((len(sets), n), dtype=np.int64)
    for r, s in enumerate(sets):
        out[r, list(s)] = 1
    return out


def tree_factorized_law(tax, cond) -> tuple[np.ndarray, np.ndarray]:
    """(closed sets, their probabilities): node i present with probability cond[i] given its parent."""
    sets = closed_sets(tax)
    prob = np.ones(len(sets))
    for i in range(len(tax)):
        par = tax.parents(i)
        active = sets[:, par[0]] == 1 if len(par) else np.ones(len(sets), dtype=bool)
        prob *= np.where(active, np.where(sets[:, i] == 1, cond[i], 1 - cond[i]), 1.0)
    return sets, prob


def expected_hf_all_sets(tax, cond, beta=1.0) -> tuple[np.ndarray, np.ndarray]:
    """(closed sets S, E[hF_β(S, Y)]) with Y from the tree-factorized law; hF(∅, ·) = hF(·, ∅) = 0."""
    sets, prob = tree_factorized_law(tax, cond)
    size = sets.sum(axis=1)
    b2 = beta * beta
    values = np.empty(len(sets))
    for lo in range(0, len(sets), 256):
        s = sets[lo:lo + 256]
        inter = s @ sets.T
        den = s.sum(axis=1)[:, None] + b2 * size[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            hf = np.where((s.sum(axis=1)[:, None] > 0) & (size[None, :] > 0),
                          (1 + b2) * inter / den, 0.0)
        values[lo:lo + 256] = hf @ prob
    return sets, values
