"""htc.estimator.HierarchicalClassifier inside scikit-learn: pipelines, scorers, clone, checks."""

from __future__ import annotations

import copy
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import make_scorer
from sklearn.model_selection import KFold, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from htc import Taxonomy, decode, hamming_loss, hierarchical_f1_score, hierarchical_pr_auc
from htc.estimator import HierarchicalClassifier, auto_loss

DOCS = Path(__file__).resolve().parents[2] / "docs" / "htc-sklearn.md"

TAX = Taxonomy.from_paths([["sport", "tennis"], ["sport", "golf"], ["science", "physics"],
                          ["science", "biology"], ["art", "music"], ["art", "painting"]])
#: small and quick: a few hundred optimiser steps on ~100 documents
FAST = dict(epochs=15, batch_size=16, lr=1e-2, hidden=32, random_state=0)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The heads here are tiny: one thread is faster than several fighting over a shared CI box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_corpus(n: int, seed: int = 0, multi_path: float = 0.0):
    """Texts whose words are tied to labels, with their label names (one list per document).

    A document takes one leaf at random (a second one from another branch with probability
    ``multi_path``); each leaf contributes two of its own four words and one of its parent's, and
    five words of a 40-word filler vocabulary shared by every label are added.
    """
    rng = np.random.default_rng(seed)
    words = {label: [f"{label}{k}" for k in range(4)] for label in TAX.nodes}
    filler = [f"filler{k}" for k in range(40)]
    leaves = TAX.leaves_labels
    texts, labels = [], []
    for _ in range(n):
        ends = [leaves[rng.integers(len(leaves))]]
        if rng.random() < multi_path:
            others = [lf for lf in leaves if _parent(lf) != _parent(ends[0])]
            ends.append(others[rng.integers(len(others))])
        tokens = []
        for leaf in ends:
            tokens += list(rng.choice(words[leaf], 2)) + [rng.choice(words[_parent(leaf)])]
        tokens += list(rng.choice(filler, 5))
        rng.shuffle(tokens)
        texts.append(" ".join(tokens))
        labels.append(ends)
    return texts, labels


def _parent(label: str) -> str:
    return TAX.nodes[int(TAX.parents(TAX.index(label))[0])]


def most_frequent_label_set(y_train, n: int) -> np.ndarray:
    """The trivial baseline: the training set's most frequent (closed) label set, for every document."""
    rows, counts = np.unique(TAX.indicator(y_train).toarray(), axis=0, return_counts=True)
    return np.tile(rows[counts.argmax()], (n, 1))


@pytest.fixture(scope="module")
def corpus():
    texts, labels = make_corpus(200, seed=0)
    return texts[:140], labels[:140], texts[140:], labels[140:]


@pytest.fixture(scope="module")
def fitted(corpus):
    texts, labels, _, _ = corpus
    return make_pipeline(TfidfVectorizer(), HierarchicalClassifier(TAX, **FAST)).fit(texts, labels)


# ---------------------------------------------------------------------------------- in a pipeline
def test_pipeline_fit_predict_beats_most_frequent_label_set(corpus, fitted):
    _, train_labels, texts, labels = corpus
    clf = fitted[-1]
    assert clf.loss_ == "conditional_softmax_la"  # "auto" on a tree with one path per document
    assert list(clf.classes_) == TAX.nodes and clf.n_features_in_ == len(fitted[0].vocabulary_)
    assert 1 <= clf.best_epoch_ <= clf.n_iter_ <= FAST["epochs"]
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_)
    proba = fitted.predict_proba(texts)
    assert proba.shape == (len(texts), len(TAX)) and proba.dtype == np.float64
    assert ((proba >= 0) & (proba <= 1)).all()
    pred = fitted.predict(texts)
    assert pred.shape == (len(texts), len(TAX)) and pred.dtype == np.int8  # label names: int8
    assert TAX.is_consistent(pred).all()
    score = hierarchical_f1_score(labels, pred, TAX)
    baseline = hierarchical_f1_score(labels, most_frequent_label_set(train_labels, len(texts)), TAX)
    assert score >= 0.85 and score >= baseline + 0.4, (score, baseline)
    assert fitted.score(texts, labels) == pytest.approx(score)  # score() is micro-hF1


def test_multi_path_indicator_targets_train_conditional_sigmoid():
    texts, labels = make_corpus(200, seed=1, multi_path=0.5)
    y = TAX.indicator(labels).toarray().astype(np.int64)  # an ancestor-closed 0/1 matrix
    pipe = make_pipeline(TfidfVectorizer(), HierarchicalClassifier(TAX, **FAST))
    pipe.fit(texts[:140], y[:140])
    assert pipe[-1].loss_ == "conditional_sigmoid"
    pred = pipe.predict(texts[140:])
    assert pred.dtype == np.int64  # the targets' dtype, as scikit-learn's multi-label checks want
    score = hierarchical_f1_score(y[140:], pred, TAX)
    baseline = hierarchical_f1_score(y[140:], most_frequent_label_set(labels[:140], 60), TAX)
    assert score >= 0.8 and score >= baseline + 0.3, (score, baseline)
    paths = (pred[:, TAX.leaves] > 0).sum(axis=1)
    assert (paths == 2).any()  # the decoder ("optimal") predicts several paths where warranted


def test_auto_loss():
    single = TAX.indicator([["tennis"], ["music"]])
    assert auto_loss(TAX, single) == "conditional_softmax_la"
    assert auto_loss(TAX, TAX.indicator([["tennis", "music"]])) == "conditional_sigmoid"
    assert auto_loss(TAX, TAX.indicator([["tennis"], []])) == "conditional_sigmoid"  # no label
    dag = Taxonomy.from_edges([("Root", "A"), ("Root", "B"), ("A", "C"), ("B", "C")])
    assert auto_loss(dag, dag.indicator([["C"]])) == "conditional_sigmoid"


# ---------------------------------------------------------------------------------- scorers, CV
def test_cross_val_score_with_an_htc_metric_as_scorer():
    texts, labels = make_corpus(150, seed=2)
    y = TAX.indicator(labels).toarray()  # scikit-learn: "multilabel-indicator" y, so KFold
    pipe = make_pipeline(TfidfVectorizer(), HierarchicalClassifier(TAX, **FAST))
    scorer = make_scorer(hierarchical_f1_score, taxonomy=TAX)  # greater_is_better=True: an F1
    scores = cross_val_score(pipe, texts, y, cv=3, scoring=scorer)
    baseline = hierarchical_f1_score(labels, most_frequent_label_set(labels, len(labels)), TAX)
    assert scores.shape == (3,) and (scores >= 0.8).all() and (scores > baseline + 0.3).all()


def test_scorers_kwargs_sign_and_predict_proba(fitted, corpus):
    _, _, texts, labels = corpus
    hf1 = make_scorer(hierarchical_f1_score, taxonomy=TAX)
    assert hf1(fitted, texts, labels) == hierarchical_f1_score(labels, fitted.predict(texts), TAX)
    leaf = make_scorer(hierarchical_f1_score, taxonomy=TAX, average="leaf")
    assert leaf(fitted, texts, labels) == hierarchical_f1_score(
        labels, fitted.predict(texts), TAX, average="leaf")
    # a loss: greater_is_better=False makes the scorer its negation, so that bigger is better
    hamming = make_scorer(hamming_loss, taxonomy=TAX, greater_is_better=False)
    assert hamming(fitted, texts, labels) == -hamming_loss(labels, fitted.predict(texts), TAX) <= 0
    # a ranking metric reads the marginals
    auc = make_scorer(hierarchical_pr_auc, taxonomy=TAX, response_method="predict_proba")
    assert auc(fitted, texts, labels) == hierarchical_pr_auc(labels, fitted.predict_proba(texts), TAX)


def test_cross_validate_label_names_with_kfold_and_several_scorers():
    texts, labels = make_corpus(120, seed=3, multi_path=0.3)  # lists of different lengths
    pipe = make_pipeline(TfidfVectorizer(), HierarchicalClassifier(TAX, **FAST))
    scoring = {"hF1": make_scorer(hierarchical_f1_score, taxonomy=TAX),
               "hamming": make_scorer(hamming_loss, taxonomy=TAX, greater_is_better=False)}
    res = cross_validate(pipe, texts, labels, cv=KFold(3), scoring=scoring)
    assert (res["test_hF1"] > 0.7).all()
    assert ((res["test_hamming"] < 0) & (res["test_hamming"] > -0.2)).all()
    # given cv=3, a classifier's y goes through type_of_target, which refuses lists of lists of
    # different lengths before anything is fitted: label-name lists need an explicit splitter
    with pytest.raises(ValueError, match="legacy multi-label data representation"):
        cross_validate(pipe, texts, labels, cv=3, scoring=scoring)


# ---------------------------------------------------------------------------------- parameters
def test_get_params_set_params_and_clone_round_trip(fitted):
    clf = HierarchicalClassifier(TAX, loss="conditional_sigmoid", decoder="top_down", **FAST)
    params = clf.get_params()
    assert params["taxonomy"] is TAX and params["decoder"] == "top_down"
    assert params["epochs"] == FAST["epochs"] and params["random_state"] == 0
    twin = clone(clf)
    assert twin is not clf and type(twin) is HierarchicalClassifier
    twin_params = twin.get_params()
    assert twin_params.keys() == params.keys()
    assert all(twin_params[k] == v for k, v in params.items() if k != "taxonomy")
    assert twin_params["taxonomy"].nodes == TAX.nodes  # clone deep-copies non-estimator params
    assert twin.set_params(**params).get_params() == params
    assert twin.set_params(decoder="optimal", lr=0.1).get_params()["lr"] == 0.1
    pipe = make_pipeline(TfidfVectorizer(), clf)
    pipe.set_params(hierarchicalclassifier__beta=2.0)
    assert clf.beta == 2.0 and pipe.get_params()["hierarchicalclassifier__beta"] == 2.0
    fresh = clone(fitted)  # the fitted pipeline's clone is unfitted, with the same parameters
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh[-1])
    assert fresh[-1].get_params().keys() == fitted[-1].get_params().keys()
    assert "HierarchicalClassifier(" in repr(clf)


def test_fit_leaves_the_taxonomy_parameter_untouched(corpus):
    texts, labels, _, _ = corpus
    tax = Taxonomy.from_paths([["sport", "tennis"], ["sport", "golf"], ["science", "physics"],
                               ["science", "biology"], ["art", "music"], ["art", "painting"]])
    before = dict(vars(tax))
    clf = HierarchicalClassifier(tax, **{**FAST, "epochs": 1}).fit(
        TfidfVectorizer().fit_transform(texts), labels)
    assert vars(tax).keys() == before.keys()  # no cached property filled in on the caller's copy
    assert clf.taxonomy is tax and clf.taxonomy_ is not tax and clf.taxonomy_.nodes == tax.nodes


def test_decoder_parameters_apply_at_predict_without_refitting(fitted, corpus):
    _, _, texts, _ = corpus
    clf = copy.deepcopy(fitted[-1])  # the shared fitted model stays as it is
    x = fitted[0].transform(texts)
    proba = clf.predict_proba(x)
    for decoder, threshold in [("top_down", 0.3), ("threshold", 0.7), ("argmax_leaf", 0.5),
                               ("optimal_hf", 0.5)]:
        clf.set_params(decoder=decoder, threshold=threshold)
        expected = decode(proba, TAX, decoder, threshold=threshold)
        np.testing.assert_array_equal(clf.predict(x), expected)
    clf.set_params(decoder="nope")
    with pytest.raises(ValueError, match="decoder must be one of"):
        clf.predict(x)


# ---------------------------------------------------------------------------------- behaviour
def test_same_random_state_same_model_and_global_rng_untouched(corpus):
    texts, labels, test_texts, _ = corpus
    x = TfidfVectorizer().fit(texts)
    xs, xt = x.transform(texts), x.transform(test_texts)
    torch.manual_seed(123)
    state, np_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    params = {**FAST, "epochs": 4}
    a = HierarchicalClassifier(TAX, **params).fit(xs, labels).predict_proba(xt)
    assert torch.equal(torch.get_rng_state(), state)  # seeded inside torch.random.fork_rng
    assert all(np.array_equal(u, v) for u, v in zip(np.random.get_state(), np_state))  # noqa: NPY002
    b = HierarchicalClassifier(TAX, **params).fit(xs, labels).predict_proba(xt)
    c = HierarchicalClassifier(TAX, **{**params, "random_state": 1}).fit(xs, labels).predict_proba(xt)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sparse_formats_and_dense_input_agree(corpus):
    """A sparse fit trains the sparse head, a dense fit the dense one; each predicts the same from
    every input format, and both learn the toy task."""
    from htc.training import Head
    from htc.training.sparse import SparseHead

    texts, labels, test_texts, test_labels = corpus
    vec = TfidfVectorizer().fit(texts)
    xs, xt = vec.transform(texts), vec.transform(test_texts)
    params = {**FAST, "epochs": 3}
    sparse_fit = HierarchicalClassifier(TAX, **params).fit(xs, labels)
    dense_fit = HierarchicalClassifier(TAX, **params).fit(xs.toarray(), labels)
    assert isinstance(sparse_fit.head_, SparseHead) and isinstance(dense_fit.head_, Head)
    for fit in (sparse_fit, dense_fit):
        reference = fit.predict_proba(xt)
        for form in (xt.tocsc(), xt.tocoo(), sp.csr_array(xt), xt.toarray(),
                     np.asfortranarray(xt.toarray()), xt.toarray().astype(np.float32)):
            np.testing.assert_allclose(fit.predict_proba(form), reference, rtol=0, atol=1e-6)


def test_pickle_round_trip(fitted, corpus):
    _, _, texts, _ = corpus
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(texts), fitted.predict_proba(texts))
    np.testing.assert_array_equal(again.predict(texts), fitted.predict(texts))


def test_taxonomy_from_a_file_and_dags(tmp_path, corpus):
    texts, labels, _, _ = corpus
    path = tmp_path / "toy.taxonomy"
    TAX.to_file(path)
    x = TfidfVectorizer().fit_transform(texts)
    clf = HierarchicalClassifier(str(path), **{**FAST, "epochs": 1}).fit(x, labels)
    assert list(clf.classes_) == TAX.nodes and clf.taxonomy_.source == str(path)
    dag = Taxonomy.from_edges([("Root", "A"), ("Root", "B"), ("A", "C"), ("B", "C")])
    y = dag.indicator([["C"], ["A"], ["B"]] * 5)
    xd = np.random.default_rng(0).normal(size=(15, 4))
    assert HierarchicalClassifier(dag, **{**FAST, "epochs": 1}).fit(xd, y).loss_ == \
        "conditional_sigmoid"
    with pytest.raises(ValueError, match="needs a tree"):
        HierarchicalClassifier(dag, loss="conditional_softmax", epochs=1).fit(xd, y)


X4 = np.random.default_rng(0).normal(size=(6, 4))
Y6 = [["tennis"], ["golf"], ["physics"], ["biology"], ["music"], ["painting"]]


@pytest.mark.parametrize(("params", "y", "match"), [
    ({}, None, "requires y to be passed"),
    ({}, [["tennis"]] * 5 + [["cricket"]], r"y\[5\]: label 'cricket' is not in the taxonomy"),
    ({}, ["tennis"] * 6, "one list of label names per document"),
    ({}, np.zeros((6, 3)), "y has 3 columns but the taxonomy has 9 nodes"),
    ({}, Y6[:5], "X has 6 documents but y has 5"),
    ({}, np.full((6, 9), 2), "0/1"),
    ({"loss": "hinge"}, Y6, "loss must be 'auto' or one of"),
    ({"decoder": "best"}, Y6, "decoder must be one of"),
    ({"threshold": 1.5}, Y6, r"threshold must be in \[0, 1\]"),
    ({"beta": 0}, Y6, "beta must be > 0"),
    ({"validation_fraction": 1.0}, Y6, r"validation_fraction must be in \[0, 1\)"),
    ({"patience": 0}, Y6, "patience must be >= 1 or None"),
    ({"epochs": 0}, Y6, "epochs must be >= 1"),
])
def test_invalid_parameters_and_targets_raise_value_errors(params, y, match):
    with pytest.raises(ValueError, match=match):
        HierarchicalClassifier(TAX, **params).fit(X4, y)


def test_invalid_features_raise_value_errors(fitted):
    clf = fitted[-1]
    with pytest.raises(ValueError, match="expecting"):
        clf.predict(np.zeros((2, clf.n_features_in_ + 1)))
    with pytest.raises(ValueError, match="NaN"):
        HierarchicalClassifier(TAX).fit(np.full((6, 4), np.nan), Y6)
    with pytest.raises(TypeError, match="taxonomy must be an htc.Taxonomy or the path"):
        HierarchicalClassifier({"A": "B"}).fit(X4, Y6)
    with pytest.raises(NotFittedError):
        HierarchicalClassifier(TAX).predict(X4)


def test_imports_stay_lazy():
    code = ("import sys, htc; assert 'sklearn' not in sys.modules, 'import htc imported sklearn'\n"
            "from htc import *\n"  # works on the core alone: the estimator is not in __all__
            "from htc import HierarchicalClassifier\n"
            "import htc.estimator\n"
            "assert HierarchicalClassifier is htc.estimator.HierarchicalClassifier\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_scikit_learn_the_import_names_the_extra():
    code = "import sys; sys.modules['sklearn'] = None; import htc.estimator"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1].endswith(
        "htc.estimator needs scikit-learn, which is not installed: pip install 'htc[train]'")


def test_docs_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert blocks, "docs/htc-sklearn.md has no python example"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), namespace)


# ---------------------------------------------------------------------------------- sklearn checks
#: scikit-learn's generic checks build their own targets: a 1-D vector of integer classes 0..k
#: (reshaped to one column, as the tags say 2-D targets only). HierarchicalClassifier's targets
#: are a 0/1 matrix with one column per taxonomy node, or label-name lists, so ``fit`` refuses
#: them with a ValueError before anything else runs. These checks are run again below on
#: ``LabelNameTargets``, which recodes that vector into one label name per document.
_GENERIC_Y = ("builds a 1-D (here one-column) integer class vector as y; the estimator's y is "
              "a 0/1 matrix over the taxonomy's nodes or label-name lists, so fit refuses it "
              "(rerun on LabelNameTargets)")
_GENERIC_Y_CHECKS = [
    "check_fit_score_takes_y", "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
    "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object",
    "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimator_sparse_tag",
    "check_estimator_sparse_array", "check_estimator_sparse_matrix", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_classifier_data_not_an_array",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance",
    "check_fit2d_1sample", "check_fit2d_1feature", "check_dict_unchanged",
    "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in",
    "check_fit2d_predict1d",
]
#: checks about the output format of a single-output classifier: predict returning one class per
#: document (shape (n,)), predict_proba one column per class seen in y, classes_ = the labels of y
_SINGLE_OUTPUT = {
    "check_classifiers_train": "asserts predict's shape is (n,) with one class per document; "
    "predict here returns the (n, nodes) indicator matrix",
    "check_classifiers_one_label": "expects predict to return the only class seen, shape (n,); "
    "predict here returns (n, nodes) indicators over the whole taxonomy",
    "check_classifiers_classes": "expects classes_ to be the labels found in y ('one', 'two', …); "
    "classes_ here are the taxonomy's nodes, fixed before fit",
    "check_estimator_sparse_array": "fits and predicts on every sparse format, then asserts "
    "predict's shape (n,) or (n, 1) and predict_proba's (n, 4): here (n, nodes)",
    "check_estimator_sparse_matrix": "fits and predicts on every sparse format, then asserts "
    "predict's shape (n,) or (n, 1) and predict_proba's (n, 4): here (n, nodes)",
}
_ONE_TAXONOMY = ("y's width is fixed by the taxonomy (one column per node): a check whose "
                 "multi-label y has another number of columns cannot apply")


def expected_failures(estimator) -> dict[str, str]:
    """Checks that cannot apply to a hierarchical multi-label estimator, each with its reason."""
    if isinstance(estimator, LabelNameTargets):
        return {
            **_SINGLE_OUTPUT,
            "check_classifier_multioutput": _ONE_TAXONOMY + " (3 columns, the taxonomy has 6 "
            "nodes); HierarchicalClassifier passes the multi-label checks above",
            "check_classifiers_multilabel_representation_invariance": _ONE_TAXONOMY + " (5 "
            "columns, 6 nodes); passed by HierarchicalClassifier above with a 5-node taxonomy",
            "check_classifiers_multilabel_output_format_predict": _ONE_TAXONOMY + " (5 columns, "
            "6 nodes); passed by HierarchicalClassifier above with a 5-node taxonomy",
            "check_classifiers_multilabel_output_format_predict_proba": _ONE_TAXONOMY + " (5 "
            "columns, 6 nodes); passed by HierarchicalClassifier above with a 5-node taxonomy",
            "check_classifiers_multilabel_output_format_decision_function": _ONE_TAXONOMY + " (5 "
            "columns, 6 nodes): fit fails before the check finds no decision_function (skipped "
            "for HierarchicalClassifier above)",
            "check_classifiers_regression_target": "a continuous y cannot be recoded as label "
            "names; HierarchicalClassifier refuses it ('y must hold only 0/1 values'), not with "
            "scikit-learn's 'Unknown label type' wording",
            "check_supervised_y_no_nan": "NaN/inf cannot be recoded as label names; "
            "HierarchicalClassifier passes this check above",
        }
    return {
        **dict.fromkeys(_GENERIC_Y_CHECKS, _GENERIC_Y),
        "check_classifiers_train": _GENERIC_Y + "; " + _SINGLE_OUTPUT["check_classifiers_train"],
        "check_classifiers_one_label": _GENERIC_Y + "; "
        + _SINGLE_OUTPUT["check_classifiers_one_label"],
        "check_classifiers_classes": _SINGLE_OUTPUT["check_classifiers_classes"],
        "check_classifier_multioutput": _ONE_TAXONOMY + " (3 columns, the taxonomy has 5 nodes)",
        "check_classifiers_regression_target": "refuses a continuous y with a ValueError, but "
        "worded 'y must hold only 0/1 values' rather than scikit-learn's 'Unknown label type'",
    }


class LabelNameTargets(HierarchicalClassifier):
    """Test-only: recodes the checks' integer class vector ``y`` as one label name per document
    (class 2 → ``[["2"]]``, the leaf "2" under "high"), so that scikit-learn's checks of fit,
    predict and their inputs reach the real code. A 2-D multi-label ``y`` passes unchanged."""

    def fit(self, X, y):
        return super().fit(X, None if y is None else _names(y))

    def score(self, X, y, sample_weight=None):
        return super().score(X, _names(y), sample_weight)


def _names(y):
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] != 1:
        return y
    return [[str(int(v))] for v in np.real(a).ravel()]  # complex y: X is refused anyway


CHECK_PARAMS = dict(epochs=2, hidden=8, random_state=0)
#: five nodes: the width of the multi-label targets in scikit-learn's multi-label checks
TAX5 = Taxonomy.from_paths([["a", "a1"], ["a", "a2"], ["b", "b1"]])
#: classes 0..3 of the generic checks as leaves of a two-level tree
TAX_CLASSES = Taxonomy.from_paths([["low", "0"], ["low", "1"], ["high", "2"], ["high", "3"]])


@parametrize_with_checks([HierarchicalClassifier(TAX5, **CHECK_PARAMS),
                          LabelNameTargets(TAX_CLASSES, **CHECK_PARAMS)],
                         expected_failed_checks=expected_failures, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
