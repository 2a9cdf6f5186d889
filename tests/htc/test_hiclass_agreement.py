"""Agreement with hiclass.metrics on single-path data (hiclass is a dev extra)."""

import numpy as np
import pytest

from htc.datasets import random_taxonomy, sample_labels
from htc.metrics import hierarchical_precision_recall_fscore

hiclass_metrics = pytest.importorskip("hiclass.metrics")
pytestmark = pytest.mark.filterwarnings("ignore:F-score is ill-defined")


def as_paths(tax, y, width):
    """Each row's labels as a root-to-node path padded with '' (hiclass's input format)."""
    out = np.full((y.shape[0], width), "", dtype=object)
    for i, labels in enumerate(tax.labels_of(y)):
        labels = sorted(labels, key=lambda lab: tax.depth[tax.index(lab)])
        out[i, : len(labels)] = labels
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("mandatory_leaf", [True, False])
def test_micro_and_samples_agree(seed, mandatory_leaf):
    tax = random_taxonomy(4, (1, 4), seed=seed)
    y_true = sample_labels(tax, 300, mandatory_leaf=mandatory_leaf, seed=seed)
    # a prediction: another single path per document (non-empty, so hiclass does not divide by 0)
    y_pred = sample_labels(tax, 300, mandatory_leaf=False, seed=seed + 100)
    keep = np.random.default_rng(seed).random(300) < 0.3
    y_pred = y_pred.toarray()
    y_pred[keep] = y_true.toarray()[keep]
    width = tax.max_depth
    t, p = as_paths(tax, y_true, width), as_paths(tax, y_pred, width)
    for ours_avg, theirs_avg in (("micro", "micro"), ("samples", "macro")):
        ours = hierarchical_precision_recall_fscore(y_true, y_pred, tax, average=ours_avg)
        theirs = (hiclass_metrics.precision(t, p, average=theirs_avg),
                  hiclass_metrics.recall(t, p, average=theirs_avg),
                  hiclass_metrics.f1(t, p, average=theirs_avg))
        assert np.allclose(ours, theirs, rtol=0, atol=1e-12)
