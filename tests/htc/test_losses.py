"""Every loss against a slow per-document, per-node reference on small trees."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from htc import Taxonomy
from htc.datasets import random_taxonomy, sample_labels
from htc.losses import LOSSES, SINGLE_PATH_LOSSES, conditional_prior, make_loss
from htc.losses.structure import tree_distances

from . import reference as ref

F64 = torch.float64


def sig(x):
    return 1 / (1 + math.exp(-x))


def siblings(tax, y):
    par = tax.parents(y)
    return list(tax.children(-1 if len(par) == 0 else int(par[0])))


def ref_loss(name, tax, s, t, prior=None, tau=0.0, beta=1e-4):
    """Plain-Python loss of one document (s: logits list, t: 0/1 list); several positive siblings
    or leaves share their target mass evenly (the multi-positive softmax losses)."""
    n = len(tax)
    if name == "bce":
        return sum(-(t[y] * math.log(sig(s[y])) + (1 - t[y]) * math.log(1 - sig(s[y])))
                   for y in range(n))
    if name == "conditional_sigmoid":
        total = 0.0
        for y in range(n):
            par = tax.parents(y)
            mask = len(par) == 0 or any(t[int(p)] for p in par)
            total += -(t[y] * math.log(sig(s[y])) + (1 - t[y]) * mask * math.log(1 - sig(s[y])))
        return total
    if name in ("conditional_softmax", "conditional_softmax_la"):
        adj = [s[y] + (tau * math.log(prior[y]) if prior is not None else 0) for y in range(n)]
        total = 0.0
        for y in range(n):
            if t[y]:
                sib = siblings(tax, y)
                share = 1 / sum(t[z] for z in sib)
                total -= share * (adj[y] - math.log(sum(math.exp(adj[z]) for z in sib)))
        return total
    if name == "leaf_softmax":
        leaves = list(tax.leaves)
        lse = math.log(sum(math.exp(v) for v in s))
        n_pos = max(1, sum(t[leaf] for leaf in leaves))
        return -sum(t[leaf] / n_pos * (s[k] - lse) for k, leaf in enumerate(leaves))
    if name == "champ":
        dist = tree_distances(tax)
        dmax = dist.max()
        true = [y for y in range(n) if t[y]]
        total = 0.0
        for y in range(n):
            if t[y]:
                total -= math.log(sig(s[y]))
            else:
                d = min(dist[y, z] for z in true) if true else dmax
                w = 1 + beta * ((d / dmax + 1) ** 2 - 1)
                total -= w * math.log(1 - sig(s[y]))
        return total
    raise AssertionError(name)


def ref_marginals(name, tax, s):
    n = len(tax)
    if name in ("bce", "champ"):
        return [sig(v) for v in s]
    if name == "conditional_sigmoid":
        return [math.prod(sig(s[z]) for z in ref.anc_self(tax, y)) for y in range(n)]
    if name.startswith("conditional_softmax"):
        def cond(y):
            sib = siblings(tax, y)
            return math.exp(s[y]) / sum(math.exp(s[z]) for z in sib)
        return [math.prod(cond(z) for z in ref.anc_self(tax, y)) for y in range(n)]
    leaves = list(tax.leaves)
    z = sum(math.exp(v) for v in s)
    return [sum(math.exp(s[k]) / z for k, leaf in enumerate(leaves) if y in ref.anc_self(tax, leaf))
            for y in range(n)]


@st.composite
def tree_problem(draw):
    tax = random_taxonomy(draw(st.integers(1, 3)), (1, 3), seed=draw(st.integers(0, 10_000)))
    n_docs = draw(st.integers(1, 4))
    y = sample_labels(tax, n_docs, mandatory_leaf=draw(st.booleans()),
                      multi_path=draw(st.booleans()),
                      seed=draw(st.integers(0, 10_000))).toarray().astype(float)
    return tax, y


@pytest.mark.parametrize("name", LOSSES)
@given(prob=tree_problem(), data=st.data())
@settings(max_examples=25, deadline=None)
def test_loss_value_gradient_and_marginals(name, prob, data):
    tax, y = prob
    prior = conditional_prior(tax, y) if name == "conditional_softmax_la" else None
    loss_fn = make_loss(name, tax, y_train=y, tau=1.0, champ_beta=0.5)
    width = loss_fn.n_outputs
    vals = data.draw(st.lists(st.floats(-3, 3), min_size=len(y) * width, max_size=len(y) * width))
    logits = torch.tensor(vals, dtype=F64).reshape(len(y), width).requires_grad_(True)
    targets = torch.tensor(y, dtype=F64)
    value = loss_fn.loss(logits, targets)
    s_rows = logits.detach().tolist()
    want = np.mean([ref_loss(name, tax, s, t, prior=prior, tau=1.0, beta=0.5)
                    for s, t in zip(s_rows, y.tolist())])
    assert float(value.detach()) == pytest.approx(want, rel=1e-9, abs=1e-9)
    # gradient against central finite differences of the reference
    value.backward()
    eps = 1e-6
    for i in range(len(y)):
        for j in range(width):
            up = [row[:] for row in s_rows]
            dn = [row[:] for row in s_rows]
            up[i][j] += eps
            dn[i][j] -= eps
            f = lambda rows: np.mean([ref_loss(name, tax, s, t, prior=prior, tau=1.0, beta=0.5)  # noqa: E731
                                      for s, t in zip(rows, y.tolist())])
            assert float(logits.grad[i, j]) == pytest.approx((f(up) - f(dn)) / (2 * eps), abs=1e-5)
    marg = loss_fn.marginals(logits.detach())
    for i, s in enumerate(s_rows):
        assert np.allclose(marg[i].numpy(), ref_marginals(name, tax, s), atol=1e-12)


@pytest.mark.parametrize("name", ["conditional_sigmoid", "conditional_softmax",
                                  "conditional_softmax_la", "leaf_softmax"])
def test_marginals_consistent(name):
    tax = random_taxonomy(4, (1, 4), seed=3)
    y = sample_labels(tax, 50, seed=3).toarray()
    loss_fn = make_loss(name, tax, y_train=y)
    p = loss_fn.marginals(torch.randn(50, loss_fn.n_outputs, dtype=F64) * 3).numpy()
    assert tax.is_tree
    for c in range(len(tax)):
        for par in tax.parents(c):
            assert (p[:, c] <= p[:, par] + 1e-12).all()
    if name != "conditional_sigmoid":  # siblings sum to their parent (top level: to 1)
        for u in [-1, *range(len(tax))]:
            kids = tax.children(u)
            if len(kids):
                parent = np.ones(len(p)) if u == -1 else p[:, u]
                assert np.allclose(p[:, kids].sum(1), parent)


def test_tau_zero_equals_plain_conditional_softmax():
    tax = random_taxonomy(3, (2, 3), seed=1)
    y = sample_labels(tax, 20, seed=1).toarray()
    s = torch.randn(20, len(tax), dtype=F64)
    t = torch.tensor(y, dtype=torch.float64)
    plain = make_loss("conditional_softmax", tax)
    la0 = make_loss("conditional_softmax_la", tax, y_train=y, tau=0.0)
    la1 = make_loss("conditional_softmax_la", tax, y_train=y, tau=1.0)
    assert float(plain.loss(s, t)) == pytest.approx(float(la0.loss(s, t)))
    assert float(plain.loss(s, t)) != pytest.approx(float(la1.loss(s, t)))
    assert torch.allclose(la1.marginals(s), plain.marginals(s))  # no adjustment at inference


def test_prior():
    tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    y = tax.indicator([["A1"], ["A1"], ["A1"], ["B"]]).toarray()
    prior = conditional_prior(tax, y)  # A: 3/4, B: 1/4; A1: 3/4 (A2 unseen counts 1)
    assert np.allclose(prior, [3 / 4, 3 / 4, 1 / 4, 1 / 4])


def test_refusals():
    dag = Taxonomy.from_edges([("Root", "A"), ("Root", "B"), ("A", "C"), ("B", "C")])
    for name in ("conditional_softmax", "leaf_softmax"):
        with pytest.raises(ValueError, match="tree taxonomy"):
            make_loss(name, dag)
    for name in ("bce", "conditional_sigmoid", "champ"):  # DAGs and multi-path are fine
        loss_fn = make_loss(name, dag)
        assert torch.isfinite(loss_fn.loss(torch.zeros(1, 3), torch.ones(1, 3)))
    tree = Taxonomy.from_paths([["A", "A1"], ["B"]])
    multi = torch.tensor([[1.0, 1.0, 1.0]])
    for name in ("conditional_softmax", "leaf_softmax"):
        with pytest.raises(ValueError, match="batch row 0 has several labels.*multi_positive=True"):
            loss_fn = make_loss(name, tree, multi_positive=False)
            loss_fn.loss(torch.zeros(1, loss_fn.n_outputs), multi)
        loss_fn = make_loss(name, tree)  # multi-positive by default
        assert torch.isfinite(loss_fn.loss(torch.zeros(1, loss_fn.n_outputs), multi))
    with pytest.raises(ValueError, match="unknown loss"):
        make_loss("focal", tree)
    with pytest.raises(ValueError, match="y_train"):
        make_loss("conditional_softmax_la", tree)
    with pytest.raises(ValueError, match="logits must be"):
        make_loss("bce", tree).loss(torch.zeros(1, 5), multi)


@pytest.mark.parametrize("name", SINGLE_PATH_LOSSES)
@pytest.mark.parametrize("mandatory_leaf", [True, False])
def test_multi_positive_equals_single_path_loss_on_single_path_targets(name, mandatory_leaf):
    tax = random_taxonomy(4, (1, 4), seed=5)
    y = sample_labels(tax, 64, mandatory_leaf=mandatory_leaf, seed=5).toarray()
    targets = torch.tensor(y, dtype=F64)
    losses = [make_loss(name, tax, y_train=y, multi_positive=m) for m in (True, False)]
    s = torch.randn(64, losses[0].n_outputs, dtype=F64) * 3
    values, grads = [], []
    for loss_fn in losses:
        logits = s.clone().requires_grad_(True)
        value = loss_fn.loss(logits, targets)
        value.backward()
        values.append(value.detach())
        grads.append(logits.grad)
    assert torch.equal(values[0], values[1]) and torch.equal(grads[0], grads[1])  # bitwise
    assert torch.equal(losses[0].marginals(s), losses[1].marginals(s))


def test_two_positive_siblings_by_hand():
    # Root → A, B; A → A1, A2. The document is {A, A1, A2}: two paths.
    tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    assert tax.nodes == ["A", "A1", "A2", "B"]
    t = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=F64)
    # conditional softmax, s_A1 = log 3: P(A1|A) = 3/4, P(A2|A) = 1/4, P(A) = 1/2
    s = torch.tensor([[0.0, math.log(3), 0.0, 0.0]], dtype=F64, requires_grad=True)
    value = make_loss("conditional_softmax", tax).loss(s, t)
    value.backward()
    want = -math.log(1 / 2) - 0.5 * math.log(3 / 4) - 0.5 * math.log(1 / 4)
    assert float(value.detach()) == pytest.approx(want, abs=1e-12)
    # gradient: softmax − split target in each group: A: 1/2 − 1, A1: 3/4 − 1/2, A2: 1/4 − 1/2
    assert s.grad[0].tolist() == pytest.approx([-0.5, 0.25, -0.25, 0.5], abs=1e-12)
    # logit-adjusted: the prior counts each of the two siblings 1/2 (with a single-path {B})
    y = np.array([[1, 1, 1, 0], [0, 0, 0, 1]])
    assert conditional_prior(tax, y).tolist() == pytest.approx([1 / 2, 1 / 2, 1 / 2, 1 / 2])
    y = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]])  # A1: 1/2 + 1, A2: 1/2
    assert conditional_prior(tax, y).tolist() == pytest.approx([2 / 3, 3 / 4, 1 / 4, 1 / 3])
    # leaf softmax over A1, A2, B with zero logits: target 1/2, 1/2, 0
    s = torch.zeros(1, 3, dtype=F64, requires_grad=True)
    value = make_loss("leaf_softmax", tax).loss(s, t)
    value.backward()
    assert float(value.detach()) == pytest.approx(math.log(3), abs=1e-12)
    assert s.grad[0].tolist() == pytest.approx([1 / 3 - 1 / 2, 1 / 3 - 1 / 2, 1 / 3], abs=1e-12)
    # a path ending at internal node A next to the leaf B: only B holds target mass
    t = torch.tensor([[1.0, 0.0, 0.0, 1.0]], dtype=F64)
    assert float(make_loss("leaf_softmax", tax).loss(s.detach(), t)) == pytest.approx(math.log(3))
