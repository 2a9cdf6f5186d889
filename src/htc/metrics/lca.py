"""LCA-based hierarchical precision, recall and F-beta (after Kosmopoulos et al. 2015).

Instead of augmenting both sets up to the root, each most-specific predicted node ``p`` is joined to
a most-specific true node ``t`` through their lowest common ancestor ``lca(p, t)`` (the deepest
common ancestor-or-self; ties go to the lower node index; the root when there is none). Pairs: every
predicted ``p`` with the true ``t`` that has the deepest LCA with it, and every true ``t`` with its
closest predicted ``p``. Then

``Aug(P_i) = ⋃_(p,t) between(lca(p,t), p)`` and ``Aug(T_i) = ⋃_(p,t) between(lca(p,t), t)``,

where ``between(a, x)`` is the set of nodes that are descendants-or-self of ``a`` and
ancestors-or-self of ``x`` (the path ``a → x`` in a tree), root excluded. An empty prediction
scores ``Aug(T_i) = T_i``. Precision/recall/F are then pooled (``"micro"``) or averaged per
document (``"samples"``). With one predicted and one true most-specific label this is exactly the
official code's ``lca`` mode; it drops the distant parts of the tree that the standard measures
count over and over.
"""

from __future__ import annotations

import numpy as np

from htc.metrics.flat import counts_to_prf
from htc.metrics.validation import check_beta, check_pair
from htc.taxonomy import Taxonomy


def _row_sets(m) -> list[frozenset[int]]:
    return [frozenset(m.indices[m.indptr[i] : m.indptr[i + 1]].tolist()) for i in range(m.shape[0])]


def _ends(s: frozenset[int], taxonomy: Taxonomy) -> list[int]:
    return sorted(j for j in s if not any(int(c) in s for c in taxonomy.children(j)))


def lca_sets(
    true_set: frozenset[int], pred_set: frozenset[int], taxonomy: Taxonomy, anc, desc
) -> tuple[set[int], set[int]]:
    """The LCA-augmented (prediction, truth) node sets of one document (sets already closed)."""
    pm, tm = _ends(pred_set, taxonomy), _ends(true_set, taxonomy)
    if not pm or not tm:
        return set(pred_set), set(true_set)
    depth = taxonomy.depth

    def lca(a: int, b: int) -> int | None:
        common = anc[a] & anc[b]
        if not common:
            return None
        return min(common, key=lambda j: (-depth[j], j))

    def between(a: int | None, x: int) -> frozenset[int]:
        return anc[x] if a is None else anc[x] & desc[a]

    table = {(p, t): lca(p, t) for p in pm for t in tm}

    def key(pt):
        a = table[pt]
        return (-1 if a is None else depth[a], -pt[0], -pt[1])

    pairs = {max(((p, t) for t in tm), key=key) for p in pm}
    pairs |= {max(((p, t) for p in pm), key=key) for t in tm}
    aug_p: set[int] = set()
    aug_t: set[int] = set()
    for p, t in pairs:
        a = table[(p, t)]
        aug_p |= between(a, p)
        aug_t |= between(a, t)
    return aug_p, aug_t


def lca_precision_recall_fscore(
    y_true,
    y_pred,
    taxonomy: Taxonomy,
    *,
    beta: float = 1.0,
    average: str = "micro",
    zero_division: float = 0.0,
) -> tuple[float, float, float]:
    """LCA-based hierarchical (P, R, F-beta), ``average`` in ``{"micro", "samples"}``.

    >>> from htc.taxonomy import Taxonomy
    >>> tax = Taxonomy.from_paths([["A", "A1", "A1a"], ["A", "A2"]])
    >>> # truth A1a, prediction A2: LCA A, so Aug(P) = {A, A2}, Aug(T) = {A, A1, A1a}
    >>> [round(x, 3) for x in lca_precision_recall_fscore(tax.indicator([["A1a"]]),
    ...                                                   tax.indicator([["A2"]]), tax)]
    [0.5, 0.333, 0.4]
    """
    if average not in ("micro", "samples"):
        raise ValueError(f"average must be 'micro' or 'samples', got {average!r}")
    beta = check_beta(beta)
    t, p = check_pair(y_true, y_pred, taxonomy)
    t, p = taxonomy.closure(t), taxonomy.closure(p)
    anc = _row_sets(taxonomy.ancestor_matrix)
    desc = _row_sets(taxonomy.descendant_matrix)
    n = t.shape[0]
    tp, n_pred, n_true = np.zeros(n), np.zeros(n), np.zeros(n)
    for i, (ts, ps) in enumerate(zip(_row_sets(t), _row_sets(p))):
        ap, at = lca_sets(ts, ps, taxonomy, anc, desc)
        tp[i], n_pred[i], n_true[i] = len(ap & at), len(ap), len(at)
    return counts_to_prf(tp, n_pred, n_true, beta, average, zero_division)
