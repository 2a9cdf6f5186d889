import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from htc import Taxonomy, decode, tune_threshold
from htc.datasets import make_synthetic, sample_marginals
from htc.decoding import (
    METHODS,
    MultiPathWarning,
    decode_optimal_hf_multi,
    end_node_distribution,
    expected_hfbeta,
    multi_path_evidence,
)

from . import reference as ref
from .conftest import indicator, marginals, taxonomies


@st.composite
def marginal_problems(draw, max_nodes=9, dag=None, max_docs=3):
    tax = draw(taxonomies(max_nodes, dag))
    n = draw(st.integers(1, max_docs))
    return tax, draw(marginals(tax, n))


@st.composite
def arbitrary_proba(draw, max_nodes=9):
    tax = draw(taxonomies(max_nodes))
    n = draw(st.integers(1, 3))
    vals = draw(st.lists(st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]), min_size=n * len(tax),
                         max_size=n * len(tax)))
    return tax, np.array(vals).reshape(n, len(tax))


@given(arbitrary_proba(), st.sampled_from([0.3, 0.5, 0.7]))
@settings(max_examples=100, deadline=None)
def test_rule_decoders_match_reference(prob, t):
    tax, p = prob
    assert (decode(p, tax, "threshold", threshold=t) == (p >= t)).all()
    assert (decode(p, tax, "top_down", threshold=t) == ref.top_down(tax, p, t)).all()
    assert (decode(p, tax, "greedy_leaf") == ref.greedy_leaf(tax, p)).all()
    assert (decode(p, tax, "argmax_leaf") == ref.argmax_leaf(tax, p)).all()
    for method in ("top_down", "greedy_leaf", "argmax_leaf"):
        assert tax.is_consistent(decode(p, tax, method, threshold=t)).all()


@given(marginal_problems(dag=False), st.sampled_from([0.3, 0.5]))
@settings(max_examples=60, deadline=None)
def test_top_down_equals_threshold_on_consistent_marginals(prob, t):
    tax, p = prob
    assert (decode(p, tax, "top_down", threshold=t) == decode(p, tax, "threshold", threshold=t)).all()


@given(marginal_problems(max_nodes=8), st.sampled_from([0.5, 1.0, 2.0]))
@settings(max_examples=120, deadline=None)
def test_optimal_hf_matches_exhaustive_search(prob, beta):
    tax, p = prob
    out = decode(p, tax, "optimal_hf", beta=beta)
    assert tax.is_consistent(out).all()
    got = expected_hfbeta(p, out, tax, beta=beta)
    for i in range(len(p)):
        want = ref.best_expected_hf(tax, p[i], beta)
        assert got[i] == pytest.approx(want, abs=1e-9)
        # expected value computed independently of the library
        q = ref.end_distribution(tax, p[i])
        assert got[i] == pytest.approx(ref.expected_hf(tax, q, ref.rows(out[i : i + 1])[0], beta))
    for method in ("threshold", "top_down", "greedy_leaf", "argmax_leaf"):
        other = expected_hfbeta(p, decode(p, tax, method), tax, beta=beta)
        assert (got >= other - 1e-9).all()


@given(arbitrary_proba(max_nodes=7))
@settings(max_examples=60, deadline=None)
def test_optimal_hf_inconsistent_marginals_is_optimal_for_projection(prob):
    """BCE-style marginals: optimal for the clipped Möbius projection, and closed."""
    tax, p = prob
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultiPathWarning)  # such marginals often look multi-path
        out = decode(p, tax, "optimal_hf")
    assert tax.is_consistent(out).all()
    q = end_node_distribution(p, tax)
    for i in range(len(p)):
        best = 0.0
        for k in range(1, len(tax) + 1):
            for s in itertools.combinations(range(len(tax)), k):
                best = max(best, ref.expected_hf(tax, q[i], frozenset(s)))
        assert ref.expected_hf(tax, q[i], ref.rows(out[i : i + 1])[0]) == pytest.approx(best, abs=1e-9)


@given(marginal_problems(max_nodes=9))
@settings(max_examples=40, deadline=None)
def test_end_node_distribution_inverts_marginals(prob):
    tax, p = prob
    q = end_node_distribution(p, tax)
    assert np.allclose(np.asarray((tax.descendant_matrix @ q.T).T), p)


def test_optimal_on_realistic_batch_beats_others():
    tax, y = make_synthetic(400, depth=5, branching=(2, 5), seed=1)
    p = sample_marginals(tax, y, sharpness=3.0, seed=1)
    e = {m: expected_hfbeta(p, decode(p, tax, m), tax).mean() for m in METHODS}
    assert all(e["optimal_hf"] >= v - 1e-12 for v in e.values())


@given(arbitrary_proba(), st.data())
@settings(max_examples=60, deadline=None)
def test_top_down_curve_matches_decoding(prob, data):
    from htc.decoding import top_down_curve
    from htc.metrics import hierarchical_precision_recall_fscore

    tax, p = prob
    y = tax.closure(data.draw(indicator(len(p), len(tax), nonempty=True)))
    ths = [0.0, 0.2, 0.35, 0.5, 0.7, 1.0]
    prec, rec, f = top_down_curve(p, y, tax, ths)
    for k, th in enumerate(ths):
        want = hierarchical_precision_recall_fscore(y, decode(p, tax, "top_down", threshold=th), tax)
        assert np.allclose((prec[k], rec[k], f[k]), want)


def test_tune_threshold_finds_the_grid_max():
    tax, y = make_synthetic(300, depth=4, branching=3, seed=2)
    p = sample_marginals(tax, y, sharpness=2.0, seed=2)
    res = tune_threshold(p, y, tax, thresholds=[0.2, 0.4, 0.6])
    assert res.score == res.scores.max() and res.threshold in (0.2, 0.4, 0.6)
    # a custom metric: fewer predicted labels is better → the chosen threshold predicts the fewest
    custom = tune_threshold(p, y, tax, metric=lambda t, pr, tx: -float(pr.sum()))
    fewest = min(decode(p, tax, threshold=th).sum() for th in custom.thresholds)
    assert decode(p, tax, threshold=custom.threshold).sum() == fewest


def test_decode_bad_input():
    tax = Taxonomy.from_paths([["A", "A1"], ["B"]])
    with pytest.raises(ValueError, match="unknown decoding method"):
        decode(np.zeros((1, 3)), tax, "best")
    with pytest.raises(ValueError, match="node_proba has shape"):
        decode(np.zeros((1, 4)), tax)
    with pytest.raises(ValueError, match="logits"):
        decode(np.full((1, 3), 2.5), tax)
    with pytest.raises(ValueError, match="threshold"):
        decode(np.zeros((1, 3)), tax, threshold=1.5)
    with pytest.raises(ValueError, match="beta"):
        decode(np.zeros((1, 3)), tax, "optimal_hf", beta=0)
    with pytest.raises(ValueError, match="unknown metric"):
        tune_threshold(np.zeros((1, 3)), np.zeros((1, 3)), tax, metric="accuracy")


@st.composite
def tree_factorized_models(draw, max_nodes=12):
    """A tree and the marginals of a conditional-sigmoid model on it (some conditionals 0 or 1)."""
    tax = draw(taxonomies(max_nodes, False))
    cond = np.array(draw(st.lists(
        st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.5, 1.0])),
        min_size=len(tax), max_size=len(tax))))
    p = np.zeros(len(tax))
    for i in tax.topological_order:
        par = tax.parents(i)
        p[i] = cond[i] * (p[par[0]] if len(par) else 1.0)
    return tax, cond, p


@pytest.mark.xfail(reason="known defect, tracked in the multi-path decoder's open work: on denormal marginals "
                          "(about 1e-45) at beta 0.5 optimal_hf_multi differs from the exhaustive search", strict=False)
@given(tree_factorized_models(), st.sampled_from([0.5, 1.0, 2.0]))
@settings(max_examples=150, deadline=None)
def test_optimal_hf_multi_matches_exhaustive_search(model, beta):
    """Exact (tol=0) and within its bound (default tol) against every ancestor-closed set."""
    tax, cond, p = model
    eff = np.array([p[i] / p[tax.parents(i)[0]] if len(tax.parents(i)) and p[tax.parents(i)[0]] > 0
                    else (p[i] if not len(tax.parents(i)) else 0.0) for i in range(len(tax))])
    sets, values = ref.expected_hf_all_sets(tax, eff, beta)
    for tol in (0.0, 1e-6):
        out = decode_optimal_hf_multi(p[None], tax, beta=beta, tol=tol)[0]
        row = np.flatnonzero((sets == out).all(axis=1))
        assert len(row) == 1, "the decoded set is not ancestor-closed"
        assert values[row[0]] >= values.max() - 1e-9 - 4 * (1 + beta**2) * tol
        if p.max() > 0:
            assert out.any()


def test_optimal_hf_multi_keeps_two_likely_paths_where_single_path_keeps_one():
    tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B", "B1"], ["B", "B2"]])
    p = np.array([[0.95, 0.9, 0.1, 0.9, 0.85, 0.1]])  # A, A1, A2, B, B1, B2: two sure paths
    multi = decode(p, tax, "optimal_hf_multi")
    assert tax.labels_of(multi) == [["A", "A1", "B", "B1"]]
    with pytest.warns(MultiPathWarning, match="top-level marginals sum to 1.85"):
        decode(p, tax, "optimal_hf")
    assert (decode(p, tax, "optimal") == multi).all()


def test_optimal_picks_single_path_decoder_for_softmax_marginals():
    tax, y = make_synthetic(50, depth=3, branching=3, seed=1)
    p = sample_marginals(tax, y, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MultiPathWarning)
        single = decode(p, tax, "optimal_hf")
    assert multi_path_evidence(p, tax).share == 0.0
    assert (decode(p, tax, "optimal") == single).all()


def test_optimal_hf_multi_refuses_dags_and_bad_tol():
    tax, _ = make_synthetic(5, depth=3, branching=2, dag=True, seed=0)
    if not tax.is_tree:
        with pytest.raises(ValueError, match="tree taxonomy"):
            decode_optimal_hf_multi(np.zeros((1, len(tax))), tax)
    tree = Taxonomy.from_paths([["A", "A1"], ["B"]])
    with pytest.raises(ValueError, match="tol"):
        decode_optimal_hf_multi(np.zeros((1, 3)), tree, tol=-1)
    with pytest.raises(ValueError, match="node_proba"):
        decode(np.full((1, 3), np.nan), tree, "optimal_hf_multi")
    assert decode(np.zeros((2, 3)), tree, "optimal_hf_multi").sum() == 0
