"""The paper's MLP head with a sparse first layer, for TF-IDF and other sparse feature matrices.

The head of Plaud et al. (CoNLL 2024, §4: a linear layer, ReLU, dropout and a linear output layer)
takes dense features. On a ``TfidfVectorizer`` matrix (tens of thousands of columns, a few dozen
non-zeros per document) a dense batch wastes memory and time, and a dense optimiser step updates
every weight of a ``features × hidden`` first layer even though a batch touches a few hundred rows.
:class:`SparseHead` computes the same function: its first layer is an ``EmbeddingBag`` that sums
the rows of the features present, weighted by their values (``x @ W``, read from the CSR arrays
without densifying), and its gradients are sparse, so ``torch.optim.SparseAdam`` updates only the
rows a batch touches (lazy Adam; weight decay applies to the dense layers only).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch


class SparseHead(torch.nn.Module):
    """``x ↦ W₂ · dropout(relu(x W₁ + b₁)) + b₂`` for CSR input ``x``; ``W₁`` has sparse gradients."""

    def __init__(self, in_dim: int, n_out: int, hidden: int = 792, dropout: float = 0.1) -> None:
        super().__init__()
        self.first = torch.nn.EmbeddingBag(in_dim, hidden, mode="sum", sparse=True)
        self.first_bias = torch.nn.Parameter(torch.empty(hidden))
        bound = 1.0 / math.sqrt(max(1, in_dim))  # torch.nn.Linear's initialisation
        torch.nn.init.uniform_(self.first.weight, -bound, bound)
        torch.nn.init.uniform_(self.first_bias, -bound, bound)
        self.rest = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Dropout(dropout),
                                        torch.nn.Linear(hidden, n_out))

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        indices, offsets, weights = batch
        h = self.first(indices, offsets, per_sample_weights=weights) + self.first_bias
        return self.rest(h)

    def dense_parameters(self) -> list[torch.nn.Parameter]:
        """Every parameter but the sparse first layer's weight (for a dense optimiser)."""
        return [self.first_bias, *self.rest.parameters()]


def csr_batch(rows, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(indices, offsets, weights)`` of CSR rows for :class:`SparseHead` (no densifying)."""
    rows = sp.csr_matrix(rows)
    return (torch.from_numpy(rows.indices.astype(np.int64)).to(device),
            torch.from_numpy(rows.indptr[:-1].astype(np.int64)).to(device),
            torch.from_numpy(rows.data.astype(np.float32)).to(device))


def clip_grad_norm(parameters, max_norm: float) -> float:
    """``torch.nn.utils.clip_grad_norm_`` for a mix of sparse and dense gradients."""
    grads = [p.grad for p in parameters if p.grad is not None]
    sq = 0.0
    for g in grads:
        if g.is_sparse:
            g = g.coalesce()
            sq += float(g.values().pow(2).sum())
        else:
            sq += float(g.pow(2).sum())
    norm = math.sqrt(sq)
    coef = max_norm / (norm + 1e-6)
    if coef < 1.0:
        for p in parameters:
            if p.grad is not None:
                p.grad = p.grad.coalesce() * coef if p.grad.is_sparse else p.grad.mul_(coef)
    return norm
