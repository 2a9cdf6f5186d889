"""Which model of the label set do node marginals come from: one path per document, or several?

The single-path decoder (``optimal_hf``) is exact when each document has one root-to-node path, so
that siblings' marginals sum to at most their parent's (to at most 1 at the top level). Marginals of
multi-path models break this: two positive siblings make their sum exceed the parent's. A document
*looks multi-path* (trees only) when some sibling group exceeds its parent by more than ``MARGIN``; when at least
half of the documents do, ``decode(method="optimal")`` picks the multi-path decoder and
``optimal_hf`` warns.

>>> import numpy as np
>>> from htc.taxonomy import Taxonomy
>>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
>>> evidence = multi_path_evidence(np.array([[0.9, 0.8, 0.7, 0.6], [0.7, 0.5, 0.2, 0.3]]), tax)
>>> evidence.share, evidence.document, round(evidence.excess, 2)
(0.5, 0, 0.6)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from htc.taxonomy import Taxonomy

MARGIN = 0.25  # excess of a sibling group over its parent that single-path noise rarely reaches
MAJORITY = 0.5


class MultiPathWarning(UserWarning):
    """Marginals that a single-path decoder is not exact for."""


@dataclass
class PathEvidence:
    """Share of documents that look multi-path, and the worst one (index, excess, group parent)."""

    share: float
    document: int
    excess: float
    parent: str

    @property
    def multi_path(self) -> bool:
        return self.share >= MAJORITY

    def describe(self) -> str:
        group = ("top-level marginals sum" if self.parent == "" else
                 f"marginals of the children of {self.parent!r} exceed it by")
        total = f"to {1 + self.excess:.2f}" if self.parent == "" else f"{self.excess:.2f}"
        return (f"{self.share:.0%} of the documents have sibling marginals summing above their "
                f"parent's by more than {MARGIN} (e.g. document {self.document}: {group} {total})")


def multi_path_evidence(proba: np.ndarray, taxonomy: Taxonomy) -> PathEvidence:
    """How many documents' marginals exceed the single-path bound (siblings ≤ parent)."""
    p = np.asarray(proba, dtype=np.float64)
    if p.shape[0] == 0:
        return PathEvidence(0.0, -1, 0.0, "")
    # Σ children p − p(parent) for every parent (root: p = 1); a DAG node counts under each parent
    pm = taxonomy.parent_matrix.tocsc()  # (child, parent)
    child_sums = np.asarray((pm.T @ p.T).T)
    has_kids = np.diff(pm.indptr) > 0
    excess_nodes = np.where(has_kids[None, :], child_sums - p, -np.inf)
    top = p[:, taxonomy.root_children].sum(axis=1) - 1.0
    worst_node = excess_nodes.argmax(axis=1)
    worst_node_excess = excess_nodes[np.arange(len(p)), worst_node]
    excess = np.maximum(top, worst_node_excess)
    share = float((excess > MARGIN).mean())
    doc = int(excess.argmax())
    parent = "" if top[doc] >= worst_node_excess[doc] else taxonomy.nodes[worst_node[doc]]
    return PathEvidence(share, doc, float(excess[doc]), parent)


def warn_if_multi_path(proba: np.ndarray, taxonomy: Taxonomy) -> None:
    """``MultiPathWarning`` when most documents' marginals are not single-path (trees only: in a
    DAG one end node can have several top-level ancestors, so the bound does not hold)."""
    if not taxonomy.is_tree:
        return
    evidence = multi_path_evidence(proba, taxonomy)
    if evidence.multi_path:
        warnings.warn(f"optimal_hf assumes one path per document, but {evidence.describe()}; "
                      "use method='optimal_hf_multi' (or 'optimal', which picks by the data)",
                      MultiPathWarning, stacklevel=3)
