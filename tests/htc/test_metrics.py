import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import precision_recall_fscore_support

from htc import Taxonomy
from htc.datasets import make_synthetic
from htc.metrics import (
    c_precision_recall_fscore,
    flat_precision_recall_fscore,
    hamming_loss,
    hierarchical_f1_score,
    hierarchical_pr_auc,
    hierarchical_precision_recall_fscore,
    hierarchical_scores_by_depth,
    lca_precision_recall_fscore,
    report,
)
from htc.metrics.hierarchical import closed_counts as hierarchical_closed_counts

from . import reference as ref
from .conftest import marginals, problems

TOY = Taxonomy.from_edges([("Root", "A"), ("Root", "B"), ("A", "A1"), ("A", "A2"), ("B", "B1")])


@pytest.mark.parametrize(
    "pred, expected",
    [(["A", "A2"], (0.5, 0.5, 0.5)), (["A"], (1.0, 0.5, 2 / 3)), (["A", "A1", "B"], (2 / 3, 1.0, 0.8))],
)
def test_spec_worked_example(pred, expected):
    y_true = TOY.indicator([["A", "A1"]])
    y_pred = TOY.indicator([pred], close=False)
    assert np.allclose(hierarchical_precision_recall_fscore(y_true, y_pred, TOY), expected)


def test_predictions_are_augmented():
    y_true = TOY.indicator([["A1"]])
    assert hierarchical_f1_score(y_true, TOY.indicator([["A1"]], close=False), TOY) == 1.0


@given(problems(), st.sampled_from(["micro", "samples", "macro", "leaf"]),
       st.sampled_from([0.5, 1.0, 2.0]))
@settings(max_examples=150, deadline=None)
def test_hierarchical_matches_reference(prob, average, beta):
    tax, t, p = prob
    got = hierarchical_precision_recall_fscore(t, p, tax, average=average, beta=beta)
    want = ref.hier(tax, t, p, average=average, beta=beta)
    assert np.allclose(got, want, atol=1e-12)


@given(problems(), st.data())
@settings(max_examples=80, deadline=None)
def test_hierarchical_depth_variants(prob, data):
    tax, t, p = prob
    d = data.draw(st.integers(1, tax.max_depth))
    for avg in ("micro", "leaf"):
        got = hierarchical_precision_recall_fscore(t, p, tax, average=avg, depth=d)
        if np.isnan(got[0]):  # no document's truth reaches depth d: no group
            assert avg == "leaf"
            assert not np.asarray(t)[:, tax.depth == d].any()
            continue
        want = ref.hier(tax, t, p, average=avg, depth=d)
        assert np.allclose(got, want, atol=1e-12)
    got = hierarchical_precision_recall_fscore(t, p, tax, average="leaf",
                                               group_weighting="documents")
    assert np.allclose(got, ref.hier(tax, t, p, average="leaf", weighting="documents"))


@given(problems())
@settings(max_examples=60, deadline=None)
def test_by_depth_matches_reference(prob):
    tax, t, p = prob
    T = [ref.close(tax, s) for s in ref.rows(t)]
    P = [ref.close(tax, s) for s in ref.rows(p)]
    for d, prf in hierarchical_scores_by_depth(t, p, tax).items():
        tp = sum(len({j for j in a & b if tax.depth[j] == d}) for a, b in zip(T, P))
        npred = sum(len({j for j in b if tax.depth[j] == d}) for b in P)
        ntrue = sum(len({j for j in a if tax.depth[j] == d}) for a in T)
        hp, hr = ref.div(tp, npred), ref.div(tp, ntrue)
        assert np.allclose(prf, (hp, hr, ref.fb(hp, hr, 1.0)))


@given(problems(), st.sampled_from(["micro", "macro", "samples"]))
@settings(max_examples=80, deadline=None)
def test_flat_matches_sklearn(prob, average):
    tax, t, p = prob
    assume(len(tax) > 1)  # with one column sklearn reads binary/multiclass input, not multilabel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = precision_recall_fscore_support(t, p, average=average, zero_division=0)[:3]
    assert np.allclose(flat_precision_recall_fscore(t, p, tax, average=average), want)
    assert hamming_loss(t, p, tax) == pytest.approx(np.mean(t != p))


@given(problems(), st.sampled_from(["micro", "macro"]))
@settings(max_examples=80, deadline=None)
def test_c_metrics_match_reference(prob, average):
    tax, t, p = prob
    got = c_precision_recall_fscore(t, p, tax, average=average)
    assert np.allclose(got, ref.c_metrics(tax, t, p, average=average), atol=1e-12)
    closed = tax.closure(p)
    assert np.allclose(c_precision_recall_fscore(t, closed, tax, average=average),
                       flat_precision_recall_fscore(t, closed, tax, average=average))


@given(problems(max_nodes=8, max_docs=3))
@settings(max_examples=60, deadline=None)
def test_lca_matches_reference(prob):
    tax, t, p = prob
    got = lca_precision_recall_fscore(t, p, tax)
    assert np.allclose(got, ref.lca_prf(tax, t, p), atol=1e-12)


def test_lca_official_single_label_example():
    tax = Taxonomy.from_paths([["A", "A1", "A1a"], ["A", "A2"], ["B"]])
    # truth A1a, prediction A2 → LCA A: Aug(P) = {A, A2}, Aug(T) = {A, A1, A1a}
    p, r, _ = lca_precision_recall_fscore(tax.indicator([["A1a"]]), tax.indicator([["A2"]]), tax)
    assert (p, r) == (0.5, 1 / 3)
    # disjoint branches: LCA is the root, so the augmentation goes up to the top level
    p, r, _ = lca_precision_recall_fscore(tax.indicator([["A1a"]]), tax.indicator([["B"]]), tax)
    assert (p, r) == (0.0, 0.0)


@given(problems(max_nodes=8, max_docs=3), st.data(), st.booleans())
@settings(max_examples=80, deadline=None)
def test_pr_auc_matches_reference(prob, data, augment):
    tax, t, _ = prob
    proba = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 1.0]),
                                        min_size=t.shape[0] * len(tax),
                                        max_size=t.shape[0] * len(tax)))).reshape(t.shape)
    got = hierarchical_pr_auc(t, proba, tax, augment=augment)
    assert got == pytest.approx(ref.pr_auc(tax, t, proba, augment=augment), abs=1e-12)


@given(problems(max_nodes=8, max_docs=3, dag=False), st.data())
@settings(max_examples=40, deadline=None)
def test_pr_auc_consistent_marginals_need_no_augmentation(prob, data):
    tax, t, _ = prob
    p = data.draw(marginals(tax, t.shape[0]))
    assert hierarchical_pr_auc(t, p, tax) == pytest.approx(
        hierarchical_pr_auc(t, p, tax, augment=False))


def test_pr_auc_perfect_and_inverted():
    t = TOY.indicator([["A1"]])
    assert hierarchical_pr_auc(t, [[0.9, 0.1, 0.8, 0.2, 0.1]], TOY) == 1.0
    assert hierarchical_pr_auc(t, [[0.1, 0.1, 0.8, 0.9, 0.9]], TOY) < 0.6


def test_sparse_and_dense_agree():
    tax, y = make_synthetic(300, depth=4, branching=(1, 4), multi_path=True, seed=3)
    rng = np.random.default_rng(0)
    pred = (rng.random(y.shape) < 0.05).astype(np.int8)
    for avg in ("micro", "samples", "macro", "leaf"):
        a = hierarchical_precision_recall_fscore(y, pred, tax, average=avg)
        b = hierarchical_precision_recall_fscore(y.toarray(), sp.csr_matrix(pred), tax, average=avg)
        assert a == b


def _as_form(m, dtype, form):
    a = np.asarray(m.toarray() if sp.issparse(m) else m).astype(dtype)
    if form == "sparse":
        return sp.csr_matrix(a)
    if form == "sparse_explicit_zeros":
        c = sp.csr_matrix(np.ones_like(a))
        c.data = a.ravel().copy()
        return c
    if form == "sliced":  # a view that does not start on an 8-byte boundary
        wide = np.zeros((a.shape[0], a.shape[1] + 1), dtype=dtype)
        wide[:, 1:] = a
        return wide[:, 1:]
    if form == "fortran":
        return np.asfortranarray(a)
    return np.ascontiguousarray(a)


@given(problems(max_nodes=12, max_docs=20), st.sampled_from([np.int8, np.uint8, np.bool_, np.int64,
                                                              np.float32]),
       st.sampled_from(["dense", "sliced", "fortran", "sparse", "sparse_explicit_zeros"]),
       st.sampled_from(["micro", "samples"]), st.booleans())
@settings(max_examples=150, deadline=None)
def test_one_pass_counts_match_reference_for_every_input_form(prob, dtype, form, average, by_depth):
    tax, t, p = prob
    depth = tax.max_depth if by_depth else None
    got = hierarchical_precision_recall_fscore(_as_form(t, dtype, form), _as_form(p, dtype, form), tax,
                                               average=average, depth=depth)
    assert np.allclose(got, ref.hier(tax, t, p, average=average, depth=depth), atol=1e-12)


def test_one_pass_counts_on_many_documents_match_the_sparse_products():
    tax, y = make_synthetic(3000, depth=4, branching=(2, 6), multi_path=True, seed=5)
    rng = np.random.default_rng(1)
    pred = (rng.random(y.shape) < 0.02).astype(np.int8)  # > 2**19 bytes: the scan runs in chunks
    assert pred.size >= 8 << 16
    t, p = tax.closure(y), tax.closure(sp.csr_matrix(pred))
    want = [np.asarray(m.sum(axis=1)).ravel() for m in (t.multiply(p), p, t)]
    got = hierarchical_closed_counts(y.toarray().astype(np.int8), pred, tax)
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


@pytest.mark.parametrize("where", [0, 7, 8, -1])  # first byte, within/after the first word, the tail
@pytest.mark.parametrize("form", ["dense", "sliced", "sparse"])
def test_one_pass_counts_refuse_values_other_than_0_and_1(where, form):
    tax, y = make_synthetic(20, depth=3, branching=3, seed=0)
    bad = y.toarray().astype(np.int8)
    bad.flat[where] = 2
    with pytest.raises(ValueError, match="y_pred must hold only 0/1 values"):
        hierarchical_f1_score(y, _as_form(bad, np.int8, form), tax)
    with pytest.raises(ValueError, match="y_true must hold only 0/1 values"):
        hierarchical_f1_score(_as_form(bad, np.int8, form), y, tax, average="samples")


def test_report_keys():
    tax, y = make_synthetic(50, depth=3, branching=3, seed=0)
    out = report(y, y, proba=y.toarray().astype(float), taxonomy=tax)
    for key in ("flat_micro_f", "flat_macro_f", "h_micro_f", "h_samples_f", "h_macro_f",
                "h_leaf_f", "c_micro_f", "lca_micro_f", "hamming_loss", "hF1_auc", "depth1_f"):
        assert key in out
    assert out["h_micro_f"] == 1.0 and out["hamming_loss"] == 0.0 and out["hF1_auc"] == 1.0


# ------------------------------------------------------------------ bad input
def test_bad_inputs():
    t = TOY.indicator([["A1"]])
    with pytest.raises(ValueError, match="y_pred has 3 columns"):
        hierarchical_f1_score(t, np.zeros((1, 3)), TOY)
    with pytest.raises(ValueError, match="y_pred must hold only 0/1"):
        hierarchical_f1_score(t, np.full((1, 5), 0.7), TOY)
    with pytest.raises(ValueError, match="shape"):
        hierarchical_f1_score(t, np.zeros((2, 5)), TOY)
    with pytest.raises(ValueError, match="average must be one of"):
        hierarchical_f1_score(t, t, TOY, average="weighted")
    with pytest.raises(ValueError, match="beta"):
        hierarchical_precision_recall_fscore(t, t, TOY, beta=-1)
    with pytest.raises(ValueError, match="depth"):
        hierarchical_f1_score(t, t, TOY, depth=9)
    with pytest.raises(ValueError, match="proba must be probabilities"):
        hierarchical_pr_auc(t, np.full((1, 5), 3.0), TOY)
    with pytest.raises(ValueError, match="NaN"):
        hierarchical_pr_auc(t, np.full((1, 5), np.nan), TOY)


def test_zero_documents_raise_naming_the_argument():
    empty = np.zeros((0, len(TOY)), dtype=np.int8)
    one = TOY.indicator([["A1"]])
    calls = [
        lambda t, p: flat_precision_recall_fscore(t, p, TOY),
        lambda t, p: flat_precision_recall_fscore(t, p, TOY, average="macro"),
        lambda t, p: hamming_loss(t, p, TOY),
        lambda t, p: hierarchical_precision_recall_fscore(t, p, TOY, average="leaf"),
        lambda t, p: hierarchical_scores_by_depth(t, p, TOY),
        lambda t, p: c_precision_recall_fscore(t, p, TOY),
        lambda t, p: lca_precision_recall_fscore(t, p, TOY),
        lambda t, p: report(t, p, taxonomy=TOY),
        lambda t, p: hierarchical_pr_auc(t, np.zeros((0, len(TOY))), TOY),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"y_true has no documents \(shape \(0, 5\)\)"):
            call(empty, empty)
        with pytest.raises(ValueError, match=r"y_true has no documents"):
            call(sp.csr_matrix(empty), one)
    with pytest.raises(ValueError, match="y_true has shape"):
        hamming_loss(one, empty, TOY)  # an empty prediction for a non-empty truth


def test_label_name_lists_are_accepted():
    t_names, p_names = [["A1"], ["B", "A2"]], [["A1"], ["A2"]]
    t, p = TOY.indicator(t_names), TOY.indicator(p_names)  # closed, as read_jsonl does
    assert hierarchical_f1_score(t_names, p_names, TOY) == hierarchical_f1_score(t, p, TOY)
    assert report(t_names, p_names, taxonomy=TOY) == report(t, p, taxonomy=TOY)
    assert flat_precision_recall_fscore(t_names, p_names, TOY) == pytest.approx((1, 0.8, 8 / 9))
    assert hierarchical_f1_score((("A1",), {"B", "A2"}), [["A1"], []], TOY) == \
        hierarchical_f1_score(t, TOY.indicator([["A1"], []]), TOY)  # tuples, sets, empty rows
    assert hamming_loss(t_names, [[], []], TOY) == hamming_loss(t, np.zeros((2, 5)), TOY)
    proba = np.full((2, 5), 0.5)
    assert hierarchical_pr_auc(t_names, proba, TOY) == hierarchical_pr_auc(t, proba, TOY)


@pytest.mark.parametrize(
    "y_true, y_pred, message",
    [
        ([["A1"], ["B"]], [["A1"], ["Z"]], r"y_pred\[1\]: label 'Z' is not in the taxonomy"),
        ([["A1 "]], [["A1"]], r"y_true\[0\]: label 'A1 ' is not in the taxonomy"),
        (["A1", "B"], [["A1"], ["B"]], "y_true is a list of strings; give one list of label names"),
        ([["A1", 1]], [["A1"]], "y_true mixes label names and numbers"),
        (np.array([["A1"], ["B"]]), [["A1"], ["B"]], "y_true must be a numeric 0/1 matrix or one "
         "list of label names per document, got an array of dtype <U2"),
        ([[1, 0, 0, 0, 0], [1]], [["A"], ["A"]], "y_true must be a 0/1 matrix .* or one list of "
         "label names"),
    ],
)
def test_bad_label_lists_name_the_argument(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        hierarchical_f1_score(y_true, y_pred, TOY)


def test_label_names_need_the_taxonomy():
    with pytest.raises(ValueError, match="y_true holds label names: pass the taxonomy"):
        flat_precision_recall_fscore([["A1"]], [["A1"]])


def test_metrics_work_in_a_forked_child_after_the_parent_used_its_threads():
    import multiprocessing as mp

    tax, y = make_synthetic(20_000, depth=3, branching=(2, 5), seed=0)  # enough rows for 2 threads
    dense = y.toarray().astype(np.int8)
    assert hierarchical_f1_score(dense, dense, tax) == 1.0  # the parent starts its thread pool
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:  # a pool inherited through fork has no threads: a new one is made
        result = pool.apply_async(hierarchical_f1_score, (dense, dense, tax))
        assert result.get(timeout=60) == 1.0
