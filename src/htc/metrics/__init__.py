"""Hierarchical and flat metrics with scikit-learn-like signatures (NumPy/SciPy only).

``y_true`` and ``y_pred`` are 0/1 matrices (dense or SciPy sparse) of shape
``(documents, len(taxonomy))``; columns follow ``taxonomy.nodes``. With a taxonomy they may also be
lists of label names, one list per document, closed under ancestors as a JSONL file's labels are:

>>> from htc.taxonomy import Taxonomy
>>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
>>> round(hierarchical_f1_score([["A1"], ["B"]], [["A1"], ["A2"]], tax), 3)
0.571
"""

from htc.metrics.flat import flat_f1_score, flat_precision_recall_fscore, hamming_loss
from htc.metrics.hierarchical import (
    hierarchical_f1_score,
    hierarchical_precision_recall_fscore,
    hierarchical_scores_by_depth,
)
from htc.metrics.lca import lca_precision_recall_fscore
from htc.metrics.paths import c_precision_recall_fscore
from htc.metrics.ranking import hierarchical_pr_auc
from htc.metrics.report import report

__all__ = [
    "c_precision_recall_fscore",
    "flat_f1_score",
    "flat_precision_recall_fscore",
    "hamming_loss",
    "hierarchical_f1_score",
    "hierarchical_pr_auc",
    "hierarchical_precision_recall_fscore",
    "hierarchical_scores_by_depth",
    "lca_precision_recall_fscore",
    "report",
]
