"""Certainty measures against a brute-force numpy reference."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from critkl.kl import certainty

logit_rows = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 100)),
                    elements=st.floats(-30, 30, allow_nan=False))


def _brute(z: np.ndarray, kind: str, t: float) -> np.ndarray:
    out = []
    for row in z:
        p = [math.exp(x / t - max(row / t)) for x in row]
        s = sum(p)
        p = [x / s for x in p]
        if kind == "shannon":
            h = -sum(x * math.log(x) for x in p if x > 0)
            out.append(1 - h / math.log(len(row)))
        else:
            out.append(1 + math.log(max(p)) / math.log(len(row)))
    return np.array(out)


@settings(max_examples=60)
@given(logit_rows, st.sampled_from(["shannon", "max_prob"]), st.sampled_from([0.5, 1.0, 2.0, 4.0]))
def test_certainty_matches_brute_force(z, kind, t):
    got = certainty(torch.tensor(z), kind=kind, temperature=t).numpy()
    np.testing.assert_allclose(got, _brute(z, kind, t), atol=2e-5)


@given(logit_rows, st.sampled_from([1.0, 4.0]))
def test_max_prob_variant_bounds_shannon(z, t):
    zt = torch.tensor(z)
    s, m = certainty(zt, "shannon", t), certainty(zt, "max_prob", t)
    assert bool((m >= s - 1e-5).all())
    assert bool(((s >= 0) & (s <= 1)).all())


def test_higher_temperature_lowers_certainty():
    z = torch.tensor([5.0, 1.0, 0.0, -1.0])
    assert certainty(z, temperature=4.0) < certainty(z, temperature=1.0)


@pytest.mark.parametrize(
    "kwargs,match",
    [({"kind": "renyi"}, "kind must be one of"), ({"temperature": 0.0}, "temperature must be > 0")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        certainty(torch.zeros(4), **kwargs)
