"""The paper's MLP head with a sparse first layer, for TF-IDF and other sparse feature matrices.

The head of Plaud et al. (CoNLL 2024, §4: a linear layer, ReLU, dropout and a linear output layer)
takes dense features. On a ``TfidfVectorizer`` matrix (tens of thousands of columns, a few dozen
non-zeros per document) a dense batch wastes memory and time, and a dense optimiser step updates
every weight of a ``features × hidden`` first layer even though a batch touches a few hundred rows.
:class:`SparseHead` computes the same function: its first layer is an ``EmbeddingBag`` that sums
the rows of the features present, weighted by their values (``x @ W``, read from the CSR arrays
without densifying), and its gradients are sparse, so :class:`RowAdam` updates only the
rows a batch touches (lazy Adam; weight decay applies to the dense layers only). Its
training steps run on one torch thread (:func:`one_thread`).
"""

from __future__ import annotations

import math
from contextlib import contextmanager

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


@contextmanager
def one_thread(torch_module):
    """Torch on one thread inside, its thread count restored after: a sparse step is a few
    small kernels (tens of non-zeros per document), which threads slow down rather than speed up,
    and slow down badly on a machine busy with other work (measured: a step 10× slower on two
    contended threads than on one)."""
    n = torch_module.get_num_threads()
    torch_module.set_num_threads(1)
    try:
        yield
    finally:
        torch_module.set_num_threads(n)


class RowAdam(torch.optim.Optimizer):
    """Lazy Adam for a parameter with sparse (row) gradients: only the rows in the gradient get
    their moments and weights updated, by ``index_select``/``index_copy_`` on those rows (as
    ``torch.optim.SparseAdam`` computes it, with the same values, but in about half its time:
    SparseAdam spends it in generic sparse-tensor arithmetic)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.coalesce() if p.grad.is_sparse else p.grad.to_sparse()
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                rows, values = grad.indices()[0], grad.values()
                m = state["exp_avg"].index_select(0, rows).mul_(b1).add_(values, alpha=1 - b1)
                v = state["exp_avg_sq"].index_select(0, rows).mul_(b2).addcmul_(
                    values, values, value=1 - b2)
                state["exp_avg"].index_copy_(0, rows, m)
                state["exp_avg_sq"].index_copy_(0, rows, v)
                bc1 = 1 - b1 ** state["step"]
                bc2 = 1 - b2 ** state["step"]
                denom = v.div_(bc2).sqrt_().add_(group["eps"])
                p.index_add_(0, rows, m.div_(denom).mul_(-group["lr"] / bc1))
        return None
