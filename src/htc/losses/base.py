"""The interface every loss follows."""

from __future__ import annotations

import torch

from htc.losses.structure import HierarchyTensors
from htc.taxonomy import Taxonomy


class HierarchicalLoss(torch.nn.Module):
    """A training loss on head logits and the node marginals it implies.

    ``loss(logits, targets)``: ``logits`` (B, ``n_outputs``), ``targets`` (B, n) 0/1 float,
    ancestor-closed; returns a scalar (summed over nodes, averaged over the batch unless the loss
    says otherwise). ``marginals(logits)``: (B, n) node probabilities for the decoders.
    """

    name = "base"

    def __init__(self, taxonomy: Taxonomy) -> None:
        super().__init__()
        self.taxonomy = taxonomy
        self.h = HierarchyTensors(taxonomy)

    @property
    def n_outputs(self) -> int:
        """Width of the head's output layer."""
        return len(self.taxonomy)

    def _apply(self, fn, recurse=True):  # keep the index tensors on the module's device
        super()._apply(fn, recurse)
        probe = fn(torch.zeros(1))
        self.h.to(probe.device)
        return self

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss(logits, targets)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def marginals(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _check(self, logits: torch.Tensor, targets: torch.Tensor | None = None) -> None:
        if logits.ndim != 2 or logits.shape[1] != self.n_outputs:
            raise ValueError(f"{self.name}: logits must be (batch, {self.n_outputs}), "
                             f"got {tuple(logits.shape)}")
        if targets is not None and (targets.ndim != 2 or targets.shape != (logits.shape[0],
                                                                          len(self.taxonomy))):
            raise ValueError(f"{self.name}: targets must be (batch, {len(self.taxonomy)}), "
                             f"got {tuple(targets.shape)}")
