"""Stopping a training run whose numbers turn NaN or infinite, before anything is saved from them.

``critkl pretrain`` and ``critkl rl`` check each training loss, the gradient norm and, before every
checkpoint or final model, the weights. A non-finite value raises :class:`NonFiniteError` (a
``ValueError``, so the command line ends with one ``error:`` line and status 2); the files of the run
stay as the last checkpoint left them.
"""

from __future__ import annotations

import math

_STOPPED = "; the run stopped without saving it (the last checkpoint is kept); try a lower learning rate"


class NonFiniteError(ValueError):
    """A training loss, gradient norm or weight is NaN or infinite; the run stopped without saving it."""


def check_finite(value: float, what: str, where: str) -> float:
    """``value`` as a float, or :class:`NonFiniteError` naming ``what`` (the quantity) and ``where``
    (the step or iteration).

    >>> check_finite(0.5, "the training loss", "step 3")
    0.5
    >>> check_finite(float("nan"), "the training loss", "step 3")
    Traceback (most recent call last):
    ...
    critkl.finite.NonFiniteError: step 3: the training loss is nan; the run stopped without saving it (the last checkpoint is kept); try a lower learning rate
    """
    value = float(value)
    if not math.isfinite(value):
        raise NonFiniteError(f"{where}: {what} is {value}{_STOPPED}")
    return value


def check_finite_weights(module, where: str) -> None:
    """Raise :class:`NonFiniteError` when a parameter of ``module`` holds a NaN or an infinity.

    >>> import torch
    >>> check_finite_weights(torch.nn.Linear(2, 2), "step 1")
    """
    import torch

    named = list(module.named_parameters())
    finite = torch.stack([torch.isfinite(p).all() for _, p in named]) if named else torch.ones(0, dtype=torch.bool)
    if not bool(finite.all()):  # one device sync for the whole model
        name = named[int((~finite).nonzero()[0])][0]
        raise NonFiniteError(f"{where}: the weight {name} holds NaN or infinite values{_STOPPED}")
