"""The paper's losses (torch). Each has ``loss(logits, targets)`` and ``marginals(logits)``.

>>> from htc import Taxonomy
>>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
>>> make_loss("conditional_softmax", tax).n_outputs
4
"""

from __future__ import annotations

import htc._train_deps  # noqa: F401  (first: without torch, one line naming the extra)
from htc.losses.base import HierarchicalLoss
from htc.losses.bce import BCELoss
from htc.losses.champ import CHAMPLoss
from htc.losses.conditional import (
    ConditionalSigmoidLoss,
    ConditionalSoftmaxLoss,
    conditional_prior,
)
from htc.losses.leaf import LeafSoftmaxLoss
from htc.taxonomy import Taxonomy
from htc.train_config import LOSSES  # the names, defined where the CLI reads them without torch

#: losses whose model is a distribution over single paths: several paths per document need
#: ``multi_positive`` (split target mass); the others model each label and take them natively
SINGLE_PATH_LOSSES = ("conditional_softmax", "conditional_softmax_la", "leaf_softmax")


def make_loss(name: str, taxonomy: Taxonomy, *, y_train=None, tau: float = 1.0,
              champ_beta: float = 1e-4, bce_reduction: str = "sum",
              multi_positive: bool = True) -> HierarchicalLoss:
    """A loss by name; ``conditional_softmax_la`` needs ``y_train`` for its prior (τ = ``tau``).

    ``multi_positive`` (the :data:`SINGLE_PATH_LOSSES` only): split the target mass over several
    positive siblings or leaves (``True``) or refuse multi-path targets (``False``).
    """
    if name == "bce":
        return BCELoss(taxonomy, reduction=bce_reduction)
    if name == "conditional_sigmoid":
        return ConditionalSigmoidLoss(taxonomy)
    if name == "conditional_softmax":
        return ConditionalSoftmaxLoss(taxonomy, multi_positive=multi_positive)
    if name == "conditional_softmax_la":
        if y_train is None:
            raise ValueError("conditional_softmax_la needs y_train (training labels) for its prior")
        return ConditionalSoftmaxLoss(taxonomy, tau=tau, prior=conditional_prior(taxonomy, y_train),
                                      multi_positive=multi_positive)
    if name == "leaf_softmax":
        return LeafSoftmaxLoss(taxonomy, multi_positive=multi_positive)
    if name == "champ":
        return CHAMPLoss(taxonomy, beta=champ_beta)
    raise ValueError(f"unknown loss {name!r}; choose from {LOSSES}")


__all__ = ["LOSSES", "SINGLE_PATH_LOSSES", "BCELoss", "CHAMPLoss", "ConditionalSigmoidLoss", "ConditionalSoftmaxLoss",
           "HierarchicalLoss", "LeafSoftmaxLoss", "conditional_prior", "make_loss"]
