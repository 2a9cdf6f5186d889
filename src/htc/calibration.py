"""Temperature scaling of a trained head (Guo et al. 2017, "On Calibration of Modern Neural
Networks"): one scalar ``T > 0`` divides every logit, ``marginals(logits / T)``, fit on held-out
data by minimising the model's negative log-likelihood.

Decoders that maximise an *expected* score (``optimal_hf``) are only as good as the probabilities
they are given; an over-confident head (``T > 1`` fits) or an under-confident one (``T < 1``)
makes them pick too short or too long paths. ``T`` does not change which label each softmax ranks
first, so argmax-type decoders are unaffected.

The likelihood is the model's own, read through its loss: the path probability for the conditional
softmax (the *unadjusted* logits for the logit-adjusted variant, as its marginals are) and for the
leaf softmax, the conditional Bernoulli tree for the conditional sigmoid, and independent Bernoullis
for BCE and CHAMP (whose distance weights are a training device, not part of the model). The NLL is
a proper scoring rule, smooth in ``T``, and uses every dev document; an expected-vs-actual gap in
per-document hF1 would be non-smooth in ``T`` and noisier on a few hundred documents.

>>> import torch
>>> from htc import Taxonomy
>>> from htc.losses import make_loss
>>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
>>> loss = make_loss("leaf_softmax", tax)
>>> logits = np.array([[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0], [4.0, 0.0, 0.0]])
>>> y = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1], [1, 0, 1, 0]])
>>> fit = fit_temperature(loss, logits, y)  # one confident mistake in four: soften
>>> fit.temperature > 1
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from htc.losses import BCELoss, CHAMPLoss, ConditionalSoftmaxLoss, HierarchicalLoss

BOUNDS = (0.05, 20.0)  # search range of T


@dataclass
class TemperatureFit:
    """The fitted temperature and the held-out NLL (per document) before and after."""

    temperature: float
    nll_before: float
    nll_after: float


def _device(loss: HierarchicalLoss) -> torch.device:
    return loss.h.group.device


def _tensor(x, loss: HierarchicalLoss) -> torch.Tensor:
    x = x.toarray() if sp.issparse(x) else np.asarray(x)
    return torch.as_tensor(x, dtype=torch.float32, device=_device(loss))


def likelihood_loss(loss: HierarchicalLoss) -> HierarchicalLoss:
    """The loss whose value is the model's negative log-likelihood per document (see module)."""
    if isinstance(loss, ConditionalSoftmaxLoss) and loss.tau > 0:
        return ConditionalSoftmaxLoss(loss.taxonomy,
                                      multi_positive=loss.multi_positive).to(_device(loss))
    if isinstance(loss, CHAMPLoss):
        return BCELoss(loss.taxonomy).to(_device(loss))
    if isinstance(loss, BCELoss) and loss.reduction != "sum":
        return BCELoss(loss.taxonomy).to(_device(loss))
    return loss


@torch.no_grad()
def negative_log_likelihood(loss: HierarchicalLoss, logits, y, temperature: float = 1.0) -> float:
    """Mean per-document NLL of the ancestor-closed 0/1 labels ``y`` under ``logits / T``."""
    nll = likelihood_loss(loss)
    return float(nll.loss(_tensor(logits, loss) / temperature, _tensor(y, loss)))


@torch.no_grad()
def fit_temperature(loss: HierarchicalLoss, logits, y, bounds: tuple[float, float] = BOUNDS,
                    ) -> TemperatureFit:
    """``T`` minimising the NLL of ``y`` under ``logits / T`` (bounded search over ``log T``).

    ``logits``: (documents, ``loss.n_outputs``) head outputs on held-out data; ``y``: their
    ancestor-closed 0/1 labels (documents, ``len(taxonomy)``).
    """
    from scipy.optimize import minimize_scalar

    if not 0 < bounds[0] < 1 < bounds[1]:
        raise ValueError(f"bounds must satisfy 0 < low < 1 < high, got {bounds}")
    nll = likelihood_loss(loss)
    z, t = _tensor(logits, loss), _tensor(y, loss)
    if z.shape[0] == 0:
        raise ValueError("fit_temperature needs at least one document")

    def objective(log_t: float) -> float:
        return float(nll.loss(z / float(np.exp(log_t)), t))

    res = minimize_scalar(objective, bounds=(np.log(bounds[0]), np.log(bounds[1])),
                          method="bounded", options={"xatol": 1e-3})
    before = objective(0.0)
    # keep T = 1 when the search ends no better (flat objective)
    temp, after = (float(np.exp(res.x)), float(res.fun)) if res.fun < before else (1.0, before)
    return TemperatureFit(temp, before, after)


@torch.no_grad()
def scaled_marginals(loss: HierarchicalLoss, logits, temperature: float) -> np.ndarray:
    """Node marginals (documents × taxonomy labels, float64) of ``logits / temperature``."""
    return loss.marginals(_tensor(logits, loss) / temperature).cpu().numpy().astype(np.float64)


class _Identity(torch.nn.Module):
    def __init__(self, loss: HierarchicalLoss) -> None:
        super().__init__()
        self.inner = loss

    def marginals(self, logits: torch.Tensor) -> torch.Tensor:
        return logits


def predict_logits(trainer, texts, inputs=None) -> np.ndarray:
    """Head logits (documents × ``trainer.loss_fn.n_outputs``) of a trained
    :class:`~htc.training.Trainer`: its ``predict_proba`` with identity marginals."""
    loss = trainer.loss_fn
    trainer.loss_fn = _Identity(loss)
    try:
        return trainer.predict_proba(texts, inputs=inputs)
    finally:
        trainer.loss_fn = loss


__all__ = ["BOUNDS", "TemperatureFit", "fit_temperature", "likelihood_loss",
           "negative_log_likelihood", "predict_logits", "scaled_marginals"]
