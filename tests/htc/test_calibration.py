"""Temperature scaling (htc.calibration): a known temperature is recovered from synthetic data."""

import numpy as np
import pytest
import torch

from htc import Taxonomy
from htc.calibration import (
    fit_temperature,
    likelihood_loss,
    negative_log_likelihood,
    predict_logits,
    scaled_marginals,
)
from htc.losses import BCELoss, make_loss

# 3 top-level labels × 3 children each: 12 nodes, 9 leaves
TAX = Taxonomy.from_paths([[f"T{i}", f"T{i}.{j}"] for i in range(3) for j in range(3)])
N = 4000


def _leaf_labels(rng, p_leaves: np.ndarray) -> np.ndarray:
    """Ancestor-closed 0/1 labels of one leaf sampled per document."""
    leaves = TAX.leaves
    pick = np.array([rng.choice(len(leaves), p=row) for row in p_leaves])
    y = np.zeros((len(pick), len(TAX)), dtype=np.int8)
    y[np.arange(len(pick)), leaves[pick]] = 1
    closed = TAX.closure(y)
    return np.asarray(closed.todense() if hasattr(closed, "todense") else closed, dtype=np.int8)


@pytest.mark.parametrize("true_t", [0.5, 2.0])
def test_leaf_softmax_recovers_a_known_temperature(true_t):
    """Labels drawn from softmax(z); the model reports z · T, so T is the temperature to find."""
    rng = np.random.default_rng(0)
    z = rng.normal(scale=2.0, size=(N, len(TAX.leaves)))
    p = np.exp(z - z.max(1, keepdims=True))
    y = _leaf_labels(rng, p / p.sum(1, keepdims=True))
    loss = make_loss("leaf_softmax", TAX)
    fit = fit_temperature(loss, z * true_t, y)
    assert fit.temperature == pytest.approx(true_t, rel=0.08)
    assert fit.nll_after < fit.nll_before
    assert fit.nll_after == pytest.approx(negative_log_likelihood(loss, z * true_t, y,
                                                                  fit.temperature), abs=1e-5)


def test_conditional_softmax_recovers_a_known_temperature():
    """Paths drawn from the conditional softmax of z (top level, then child), model logits z · 3."""
    rng = np.random.default_rng(1)
    loss = make_loss("conditional_softmax", TAX)
    z = rng.normal(scale=1.5, size=(N, len(TAX)))
    leaf_p = scaled_marginals(loss, z, 1.0)[:, TAX.leaves]  # a path's probability = its leaf's
    y = _leaf_labels(rng, leaf_p / leaf_p.sum(1, keepdims=True))
    fit = fit_temperature(loss, z * 3.0, y)
    assert fit.temperature == pytest.approx(3.0, rel=0.08)


def test_bce_recovers_a_known_temperature_and_champ_uses_its_likelihood():
    """Independent Bernoulli labels per node (not a hierarchy: BCE's model ignores it)."""
    rng = np.random.default_rng(2)
    z = rng.normal(scale=2.0, size=(N // 4, len(TAX)))
    y = (rng.random(z.shape) < 1 / (1 + np.exp(-z))).astype(np.int8)
    bce = make_loss("bce", TAX)
    assert fit_temperature(bce, z / 0.4, y).temperature == pytest.approx(1 / 0.4, rel=0.08)
    champ = make_loss("champ", TAX, champ_beta=1.0)
    assert isinstance(likelihood_loss(champ), BCELoss)
    assert fit_temperature(champ, z / 0.4, y).temperature == pytest.approx(1 / 0.4, rel=0.08)


def test_logit_adjusted_loss_is_scored_without_its_adjustment():
    """The LA variant's marginals ignore the prior, so its likelihood must too."""
    rng = np.random.default_rng(3)
    y = _leaf_labels(rng, np.full((50, len(TAX.leaves)), 1 / len(TAX.leaves)))
    la = make_loss("conditional_softmax_la", TAX, y_train=y[:10], tau=1.0)
    plain = make_loss("conditional_softmax", TAX)
    z = rng.normal(size=(50, len(TAX)))
    assert negative_log_likelihood(la, z, y) == pytest.approx(negative_log_likelihood(plain, z, y))


def test_temperature_one_is_kept_on_a_flat_objective_and_bounds_are_checked():
    loss = make_loss("leaf_softmax", TAX)
    z = np.zeros((5, len(TAX.leaves)))
    y = _leaf_labels(np.random.default_rng(4), np.full((5, len(TAX.leaves)), 1 / 9))
    assert fit_temperature(loss, z, y).temperature == 1.0  # all-zero logits: T changes nothing
    with pytest.raises(ValueError, match="bounds"):
        fit_temperature(loss, z, y, bounds=(2.0, 5.0))


def test_scaled_marginals_at_t1_are_the_losses_marginals():
    loss = make_loss("conditional_sigmoid", TAX)
    z = np.random.default_rng(5).normal(size=(7, len(TAX)))
    expected = loss.marginals(torch.tensor(z, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(scaled_marginals(loss, z, 1.0), expected, rtol=1e-6)
    # a high temperature pulls every conditional towards 1/2
    hot = scaled_marginals(loss, z, 100.0)
    np.testing.assert_allclose(hot[:, TAX.root_children], 0.5, atol=0.02)


def test_predict_logits_gives_the_head_outputs_and_restores_the_loss():
    class FakeTrainer:
        def __init__(self) -> None:
            self.loss_fn = make_loss("leaf_softmax", TAX)

        def predict_proba(self, texts, inputs=None):
            z = torch.tensor(inputs, dtype=torch.float32)
            return self.loss_fn.marginals(z).numpy().astype(np.float64)

    trainer = FakeTrainer()
    loss = trainer.loss_fn
    z = np.random.default_rng(6).normal(size=(3, len(TAX.leaves)))
    np.testing.assert_allclose(predict_logits(trainer, None, inputs=z), z, rtol=1e-6)
    assert trainer.loss_fn is loss
