"""KL estimators and the prioritized weight against brute-force per-element references."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from critkl.kl import certainty, kl_estimate, masked_mean, prioritized_weight

logps = arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 6)),
               elements=st.floats(-20, 0, allow_nan=False))


def _brute_kl(p: float, q: float, kind: str) -> float:
    if kind == "k1":
        return p - q
    if kind == "k2":
        return 0.5 * (p - q) ** 2
    r = math.exp(q - p)
    return (r - 1) - math.log(r)


@settings(max_examples=60, deadline=None)  # torch under a loaded CI machine
@given(logps, st.data(), st.sampled_from(["k1", "k2", "k3"]))
def test_kl_estimate_matches_brute_force(lp, data, kind):
    lq = data.draw(arrays(np.float64, lp.shape, elements=st.floats(-20, 0, allow_nan=False)))
    mask = data.draw(arrays(np.bool_, lp.shape))
    got = kl_estimate(torch.tensor(lp), torch.tensor(lq), kind, mask=torch.tensor(mask)).numpy()
    want = np.array([[_brute_kl(p, q, kind) * m for p, q, m in zip(rp, rq, rm, strict=True)]
                     for rp, rq, rm in zip(lp, lq, mask, strict=True)])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_kl_estimators_on_full_distributions_are_unbiased_or_not():
    """Exact expectations under p: k1 and k3 average to KL(p‖q); k2 does not in general."""
    torch.manual_seed(0)
    lp = torch.log_softmax(torch.randn(7), -1)
    lq = torch.log_softmax(torch.randn(7), -1)
    kl = float((lp.exp() * (lp - lq)).sum())
    for kind in ("k1", "k3"):
        assert float((lp.exp() * kl_estimate(lp, lq, kind)).sum()) == pytest.approx(kl, rel=1e-5)
    assert float((lp.exp() * kl_estimate(lp, lq, "k3")).sum()) >= 0


@settings(max_examples=60, deadline=None)  # torch under a loaded CI machine
@given(arrays(np.float64, st.integers(1, 20), elements=st.floats(0, 1)),
       st.floats(0, 500), st.floats(-2, 2), st.floats(-1, 1))
def test_prioritized_weight_matches_brute_force(c, beta, slope, intercept):
    got = prioritized_weight(torch.tensor(c), beta, slope, intercept).numpy()
    want = np.array([slope * (x**beta) + intercept for x in c])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_prioritized_weight_has_no_gradient_and_matches_certainty_pipeline():
    z = torch.randn(2, 5, 96, requires_grad=True)
    c = certainty(z, "max_prob", temperature=4.0)
    w = prioritized_weight(c, beta=150)
    assert not w.requires_grad
    p = torch.softmax(z.detach() / 4, -1).max(-1).values
    np.testing.assert_allclose(w.numpy(), ((1 + p.log() / math.log(96)) ** 150).numpy(), rtol=1e-4)


def test_unit_weight_reproduces_standard_kl_exactly():
    torch.manual_seed(1)
    lp, lq = torch.randn(4, 9) - 2, torch.randn(4, 9) - 2
    mask = torch.rand(4, 9) > 0.3
    k2 = kl_estimate(lp, lq, "k2", mask)
    w = prioritized_weight(torch.rand(4, 9), beta=0.0)  # c^0 = 1
    assert torch.equal(w, torch.ones(4, 9))
    assert torch.equal(masked_mean(w * k2, mask), masked_mean(k2, mask))


def test_bad_inputs_name_the_argument():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="kind"):
        kl_estimate(x, x, "k4")
    with pytest.raises(ValueError, match="logp and logq"):
        kl_estimate(x, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="mask"):
        kl_estimate(x, x, mask=torch.ones(3))
    with pytest.raises(ValueError, match="beta"):
        prioritized_weight(x, beta=-1)
