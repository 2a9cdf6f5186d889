"""htc: hierarchical text classification done right.

Taxonomies, hierarchical metrics and metric-aware decoding (Plaud et al., CoNLL 2024). The core
(``htc.taxonomy``, ``htc.metrics``, ``htc.decoding``, ``htc.data``) needs only NumPy, SciPy and
numba: the ``htc`` distribution, without torch; training (``htc.losses``, ``htc.encoders``,
``htc.training``) needs its extra ``htc[train]`` (torch, transformers).

>>> from htc import Taxonomy, decode, hierarchical_f1_score
>>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
>>> import numpy as np
>>> y_pred = decode(np.array([[0.8, 0.6, 0.3, 0.2]]), tax, method="top_down")
>>> hierarchical_f1_score(tax.indicator([["A1"]]), y_pred, tax)
1.0
"""

from htc._version import __version__ as __version__  # the distribution's version
from htc.data import Corpus, DataError, read_jsonl, write_jsonl
from htc.datasets import load_hwv, make_synthetic
from htc.decoding import decode, tune_threshold
from htc.metrics import (
    c_precision_recall_fscore,
    flat_f1_score,
    flat_precision_recall_fscore,
    hamming_loss,
    hierarchical_f1_score,
    hierarchical_pr_auc,
    hierarchical_precision_recall_fscore,
    lca_precision_recall_fscore,
    report,
)
from htc.taxonomy import Taxonomy, TaxonomyError

__all__ = [
    "Corpus",
    "DataError",
    "Taxonomy",
    "TaxonomyError",
    "c_precision_recall_fscore",
    "decode",
    "flat_f1_score",
    "flat_precision_recall_fscore",
    "hamming_loss",
    "hierarchical_f1_score",
    "hierarchical_pr_auc",
    "hierarchical_precision_recall_fscore",
    "lca_precision_recall_fscore",
    "load_hwv",
    "make_synthetic",
    "read_jsonl",
    "report",
    "tune_threshold",
    "write_jsonl",
]


def __getattr__(name: str):
    """``htc.HierarchicalClassifier`` (scikit-learn estimator, extra ``htc[train]``), imported on
    first use so that ``import htc`` needs neither scikit-learn nor torch. Kept out of
    ``__all__``: ``from htc import *`` works on the core alone."""
    if name == "HierarchicalClassifier":
        from htc.estimator import HierarchicalClassifier

        return HierarchicalClassifier
    raise AttributeError(f"module 'htc' has no attribute {name!r}")
