"""Reference figures on the HWV files (computed independently), reproduced by our metrics."""

import numpy as np
import pytest

from htc import Taxonomy, read_jsonl
from htc.metrics import hierarchical_precision_recall_fscore


@pytest.fixture(scope="module")
def hwv(hwv_path):
    tax = Taxonomy.from_file(hwv_path / "hwv.taxonomy")
    return tax, read_jsonl(hwv_path / "hwv_val.json.gz", tax), read_jsonl(hwv_path / "hwv_test.json.gz", tax)


def test_truncated_oracle(hwv):
    tax, _, test = hwv
    want = {1: 0.424, 2: 0.700, 3: 0.881, 4: 0.974, 5: 1.000}
    for k, f in want.items():
        pred = test.y.multiply((tax.depth <= k).astype(np.int8)[None, :]).tocsr()
        p, _r, fs = hierarchical_precision_recall_fscore(test.y, pred, tax)
        assert p == 1.0 and round(fs, 3) == f


def majority_path(tax, val):
    counts = np.asarray(val.y.sum(0)).ravel()
    node, path = -1, []
    while len(tax.children(node)):
        kids = tax.children(node)
        node = int(kids[np.argmax(counts[kids])])
        path.append(node)
    return path


def test_majority_path_micro_and_macro_at_depth(hwv):
    tax, val, test = hwv
    path = majority_path(tax, val)
    assert tax.nodes[path[0]] == "People" and len(path) == 5
    pred = np.zeros(test.y.shape, dtype=np.int8)
    pred[:, path] = 1
    p, r, f = hierarchical_precision_recall_fscore(test.y, pred, tax)
    assert (round(p, 3), round(r, 3), round(f, 3)) == (0.058, 0.078, 0.066)
    expected = {1: (0.209, 0.091), 2: (0.131, 0.075), 3: (0.100, 0.057)}
    for d, (weighted, unweighted) in expected.items():
        fw = hierarchical_precision_recall_fscore(test.y, pred, tax, average="leaf", depth=d,
                                                  group_weighting="documents")[2]
        fu = hierarchical_precision_recall_fscore(test.y, pred, tax, average="leaf", depth=d)[2]
        assert (round(fw, 3), round(fu, 3)) == (weighted, unweighted)
