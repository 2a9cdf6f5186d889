"""Descriptive statistics of a labelled dataset over a taxonomy."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from htc.metrics.validation import as_indicator
from htc.taxonomy import Taxonomy


def end_labels(y: sp.csr_matrix, taxonomy: Taxonomy) -> sp.csr_matrix:
    """The most specific labels of each (closed) row: true nodes without a true child."""
    y = taxonomy.closure(as_indicator(y, "y", taxonomy=taxonomy))
    has_child = (y.astype(np.int32) @ taxonomy.parent_matrix).tocsr()
    has_child.data[:] = 1
    ends = (y - y.multiply(has_child)).tocsr()
    ends.eliminate_zeros()
    return ends


def dataset_statistics(y, taxonomy: Taxonomy) -> dict:
    """Documents, labels used, labels and paths per document, path-end depths, leaf endings.

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["B"]])
    >>> dataset_statistics(tax.indicator([["A1"], ["B"], ["A1", "B"]]), tax)["paths_per_doc_max"]
    2
    """
    y = taxonomy.closure(as_indicator(y, "y", taxonomy=taxonomy))
    ends = end_labels(y, taxonomy)
    labels_per_doc = np.diff(y.indptr)
    paths_per_doc = np.diff(ends.indptr)
    end_depths = taxonomy.depth[ends.indices]
    used = np.asarray(y.sum(axis=0)).ravel() > 0
    return {
        "documents": int(y.shape[0]),
        "taxonomy_labels": len(taxonomy),
        "taxonomy_leaves": int(len(taxonomy.leaves)),
        "taxonomy_depth": int(taxonomy.max_depth),
        "labels_used": int(used.sum()),
        "leaves_used": int(used[taxonomy.leaves].sum()),
        "labels_per_doc_mean": float(labels_per_doc.mean()) if y.shape[0] else 0.0,
        "labels_per_doc_min": int(labels_per_doc.min()) if y.shape[0] else 0,
        "labels_per_doc_max": int(labels_per_doc.max()) if y.shape[0] else 0,
        "paths_per_doc_mean": float(paths_per_doc.mean()) if y.shape[0] else 0.0,
        "paths_per_doc_max": int(paths_per_doc.max()) if y.shape[0] else 0,
        "multi_path_docs": int((paths_per_doc > 1).sum()),
        "docs_ending_at_leaves": float(
            np.mean([taxonomy.is_leaf[ends.indices[ends.indptr[i]:ends.indptr[i + 1]]].all()
                     for i in range(y.shape[0])]) if y.shape[0] else 0.0),
        "path_end_depth_histogram": {int(d): int(c) for d, c in
                                     zip(*np.unique(end_depths, return_counts=True))},
        "docs_per_top_label": {taxonomy.nodes[j]: int(np.asarray(y[:, j].sum()))
                               for j in taxonomy.root_children},
    }
