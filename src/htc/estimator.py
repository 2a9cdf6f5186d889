"""A scikit-learn estimator: an htc head trained on any feature matrix, decoded by name.

:class:`HierarchicalClassifier` follows scikit-learn's conventions (``ClassifierMixin`` +
``BaseEstimator``, ``__init__`` only stores its parameters, fitted attributes end in ``_``), so it
works in a ``Pipeline`` after ``TfidfVectorizer`` and with ``clone``, ``GridSearchCV`` and
``cross_val_score``. ``fit`` trains the paper's MLP head (:class:`htc.training.Head`) with one of
:mod:`htc.losses` on the given features, with the recipe of ``htc train``: AdamW, 10% linear warmup
then linear decay, gradient clipping at 1.0, and (by default) early stopping on the per-document
hF1 of a held-out share of the training documents under the chosen decoder. Sparse ``X`` (TF-IDF)
trains a head whose first layer reads the CSR rows without densifying them
(:class:`htc.training.sparse.SparseHead`). Torch is imported when ``fit`` or ``predict_proba`` runs,
not when this module is imported.

>>> from sklearn.feature_extraction.text import TfidfVectorizer
>>> from sklearn.pipeline import make_pipeline
>>> from htc import Taxonomy
>>> tax = Taxonomy.from_paths([["sport", "tennis"], ["sport", "golf"], ["art"]])
>>> texts = ["racket serve ace", "green putt birdie", "canvas paint brush"] * 4
>>> y = [["tennis"], ["golf"], ["art"]] * 4
>>> clf = HierarchicalClassifier(tax, epochs=20, batch_size=4, lr=0.05, hidden=32,
...                              validation_fraction=0, random_state=0)
>>> pipe = make_pipeline(TfidfVectorizer(), clf).fit(texts, y)
>>> pipe.predict(["serve an ace", "a brush"]).tolist()  # columns: tax.nodes
[[1, 1, 0, 0], [0, 0, 0, 1]]
>>> tax.labels_of(pipe.predict(["serve an ace"]))
[['sport', 'tennis']]
"""

from __future__ import annotations

import copy
import math
import os
import sys
from contextlib import contextmanager, nullcontext

import numpy as np
import scipy.sparse as sp

from htc._extras import missing_extra, require
from htc.decoding import METHODS, decode
from htc.decoding.tuning import selection_score
from htc.metrics import hierarchical_f1_score
from htc.metrics.validation import _label_rows, as_indicator
from htc.taxonomy import Taxonomy
from htc.train_config import AUTO_MULTI_PATH, AUTO_SINGLE_PATH, auto_loss  # noqa: F401  (re-exported)

try:  # scikit-learn and torch come with the extra htc[train], not with htc's core
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import check_is_fitted
except ModuleNotFoundError as err:
    raise (missing_extra(err, "htc.estimator") or err) from None
try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator, X, **kwargs):
        return estimator._validate_data(X, **kwargs)

require("htc.estimator", "torch")  # found, not imported: fit and predict_proba import it


def _label_lists(y):
    """A 1-D object array or pandas Series of label lists (e.g. a DataFrame column) as a list."""
    if isinstance(y, (list, tuple)) or sp.issparse(y):
        return y
    dtype = getattr(y, "dtype", None)
    if dtype is not None and np.dtype(dtype).kind == "O" and getattr(y, "ndim", 0) == 1:
        return list(y)
    return y


def _resolve_taxonomy(taxonomy) -> Taxonomy:
    """The taxonomy to fit with: a copy of a given one (its cached properties fill in as the
    estimator uses it, and fitting must leave its parameters untouched), or one read from a file."""
    if isinstance(taxonomy, Taxonomy):
        return copy.deepcopy(taxonomy)
    if isinstance(taxonomy, (str, os.PathLike)):
        return Taxonomy.from_file(taxonomy)
    raise TypeError("taxonomy must be an htc.Taxonomy or the path of a .taxonomy file, got "
                    f"{type(taxonomy).__name__}")


@contextmanager
def _isolated_rng(torch, device):
    """Seed torch freely inside; its global generators (CPU and ``device``) are restored after."""
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        yield


def _tensor(torch, rows, device):
    """A float32 tensor of feature rows (a copy: ``X`` may be sparse or read-only)."""
    rows = rows.toarray() if sp.issparse(rows) else rows
    return torch.tensor(rows, dtype=torch.float32, device=device)


def _inputs(torch, head, rows, device):
    """What ``head`` takes: CSR arrays for a sparse head (dense rows converted to CSR), else a
    dense float32 tensor (sparse rows densified a batch at a time)."""
    from htc.training.sparse import SparseHead, csr_batch

    if isinstance(head, SparseHead):
        return csr_batch(rows if sp.issparse(rows) else sp.csr_matrix(rows), device)
    return _tensor(torch, rows, device)


def _marginals(torch, head, loss_fn, X, device, batch_size: int = 1024) -> np.ndarray:
    """Node marginals of ``X`` (float64, clipped to [0, 1]: float32 sums can pass 1 by an ulp)."""
    head.eval()
    out = []
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            logits = head(_inputs(torch, head, X[start:start + batch_size], device))
            out.append(loss_fn.marginals(logits.float()).cpu().numpy())
    if not out:
        return np.zeros((0, len(loss_fn.taxonomy)))
    return np.clip(np.concatenate(out).astype(np.float64), 0.0, 1.0)


class HierarchicalClassifier(ClassifierMixin, BaseEstimator):
    """Hierarchical text classifier over a taxonomy: an MLP head, one of the paper's losses, a decoder.

    Parameters
    ----------
    taxonomy : Taxonomy or path
        The label hierarchy, or the path of a tab-separated ``.taxonomy`` file (read by ``fit``).
    loss : str, default="auto"
        ``"auto"``, or one of ``htc.losses.LOSSES`` (``bce``, ``conditional_sigmoid``,
        ``conditional_softmax``, ``conditional_softmax_la``, ``leaf_softmax``, ``champ``).
        ``"auto"`` (see :func:`auto_loss`) trains the logit-adjusted conditional softmax, the
        paper's best loss, when the taxonomy is a tree and every training document has exactly one
        path, and the conditional sigmoid otherwise (DAGs, several paths, unlabelled documents).
        A single-path loss chosen explicitly splits a multi-path document's target mass over its
        positive siblings or leaves (``multi_positive=True``, as ``htc train --multi-path split``)
        and warns (:class:`htc.training.multipath.MultiPathLossWarning`): such a model cannot put
        its mass on several paths. ``loss_`` says what was trained.
    decoder : str, default="optimal"
        A method of :func:`htc.decode`; ``"optimal"`` maximises the expected hF-``beta`` of each
        document under the model (exact single-path or multi-path decoder, whichever the marginals
        call for). Read again at predict time: ``set_params(decoder=...)`` re-decodes a fitted
        model without refitting (early stopping used the decoder set during ``fit``).
    threshold : float, default=0.5
        Of the ``threshold`` and ``top_down`` decoders.
    beta : float, default=1.0
        Of the ``optimal*`` decoders (the F-beta they maximise).
    epochs, batch_size, lr, hidden, dropout, weight_decay :
        Training: at most ``epochs`` passes over the data in shuffled batches, AdamW at ``lr``
        (peak of the warmup/decay schedule) with ``weight_decay``, a head of ``hidden`` units and
        ``dropout``. Defaults are the paper's head (792 units, lr 1e-3, dropout 0.1, decay 0.01,
        batches of 32), at most 30 epochs with early stopping (the paper's configs: 20); a few
        hundred documents want a higher ``lr`` (1e-2). With a
        sparse ``X`` (e.g. ``TfidfVectorizer``) the first layer is sparse
        (:class:`htc.training.sparse.SparseHead`: ``EmbeddingBag`` + lazy Adam on the rows a batch
        touches, no weight decay on it), so its cost grows with the non-zeros, not the width of ``X``; its
        ``n_features × hidden`` weights still take memory (25k features × 792: 79 MB, three times
        that with Adam's moments): cap the vocabulary (``max_features``) or lower ``hidden`` beyond
        a few hundred thousand features.
    tau : float, default=1.0
        Strength of the logit adjustment (``conditional_softmax_la`` only).
    validation_fraction : float, default=0.1
        Share of the training documents held out (a seeded random split, not stratified, taken
        from ``X``: it is not a separate dev set) to pick the epoch: after each epoch the held-out
        per-document hF1 under ``decoder`` is measured (what the optimal decoders maximise; for
        ``threshold`` and ``top_down``, at the threshold that is best on the held-out documents
        that epoch, so that a fixed threshold the model's marginals never reach cannot decide),
        training stops after ``patience`` epochs without a strict improvement, and the best
        epoch's weights are kept (the latest one on ties: small held-out sets plateau early). The
        held-out documents are not trained on. ``0`` (or a single training document): no held-out
        set, every epoch runs and the last weights are kept.
    patience : int or None, default=5
        Epochs without a better held-out score before stopping; ``None`` runs every epoch (the
        best one is still kept).
    device : str, default="cpu"
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` (CUDA when available). Prediction runs
        where the head was trained.
    random_state : int, RandomState or None, default=None
        Seeds the held-out split, the initial weights, dropout and the batch order: on CPU two fits
        with the same integer give the same model bit for bit. Torch's global generator is left as
        it was (seeding happens inside ``torch.random.fork_rng``).
    verbose : bool, default=False
        Print one line per epoch to stderr.

    Attributes
    ----------
    classes_ : ndarray of str
        The taxonomy's node names: the columns of ``predict`` and ``predict_proba``.
    taxonomy_ : Taxonomy
        The taxonomy used: a copy of ``taxonomy``, or the one read from the file.
    loss_ : str
        The loss trained (``loss`` with ``"auto"`` resolved).
    head_ : torch.nn.Module
        The trained head (:class:`htc.training.Head`), in eval mode.
    loss_module_ : htc.losses.HierarchicalLoss
        Turns the head's logits into node marginals.
    n_iter_ : int
        Epochs run.
    best_epoch_ : int
        The epoch whose weights were kept (1-based).
    loss_curve_ : list of float
        Mean training loss of each epoch.
    validation_scores_ : list of float or None
        Held-out per-document hF1 after each epoch (``None`` without a held-out set).
    best_validation_score_ : float or None
        Held-out per-document hF1 of the kept epoch.
    n_features_in_ : int
        Width of ``X``; ``feature_names_in_`` too when ``X`` was a DataFrame with string columns.
    """

    def __init__(self, taxonomy, *, loss="auto", decoder="optimal", threshold=0.5, beta=1.0,
                 epochs=30, batch_size=32, lr=1e-3, hidden=792, dropout=0.1, weight_decay=0.01,
                 tau=1.0, validation_fraction=0.1, patience=5, device="cpu", random_state=None,
                 verbose=False):
        self.taxonomy = taxonomy
        self.loss = loss
        self.decoder = decoder
        self.threshold = threshold
        self.beta = beta
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.hidden = hidden
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.tau = tau
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ scikit-learn plumbing
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.two_d_labels = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False  # y is a matrix over nodes (or label lists)
        tags.classifier_tags.multi_label = True
        return tags

    def _check_decoding(self) -> None:
        if self.decoder not in METHODS:
            raise ValueError(f"decoder must be one of {METHODS}, got {self.decoder!r}")
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if not float(self.beta) > 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")

    def _targets(self, y, taxonomy: Taxonomy, n_docs: int):
        """(ancestor-closed CSR indicator, dtype that ``predict`` returns)."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is "
                             "None")
        y = _label_lists(y)
        m = taxonomy.closure(as_indicator(y, "y", taxonomy=taxonomy))
        if _label_rows(y, "y") is not None:
            dtype = np.dtype(np.int8)  # label names: what Taxonomy.indicator and htc.decode give
        else:  # a 0/1 matrix, or rows of numbers that NumPy turns into one
            dtype = np.dtype(y.dtype) if sp.issparse(y) else np.asarray(y).dtype
        if m.shape[0] != n_docs:
            raise ValueError(f"X has {n_docs} documents but y has {m.shape[0]}")
        return sp.csr_matrix(m, dtype=np.int8), dtype

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y):
        """Train on features ``X`` (dense or sparse, documents × features) and targets ``y``.

        ``y``: a 0/1 matrix over ``taxonomy.nodes`` (dense or sparse; closed under ancestors here
        if it is not) or one list of label names per document (each closed under ancestors, as
        :func:`htc.read_jsonl` closes a file's labels).
        """
        taxonomy = _resolve_taxonomy(self.taxonomy)
        X = _validate_data(self, X, accept_sparse="csr", dtype=np.float32, reset=True)
        Y, y_dtype = self._targets(y, taxonomy, X.shape[0])
        self._check_decoding()
        if not 0.0 <= float(self.validation_fraction) < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if self.patience is not None and int(self.patience) < 1:
            raise ValueError(f"patience must be >= 1 or None, got {self.patience}")

        import torch

        from htc.losses import LOSSES, make_loss
        from htc.training import TrainConfig
        from htc.training.trainer import Head, resolve_device

        if self.loss != "auto" and self.loss not in LOSSES:
            raise ValueError(f"loss must be 'auto' or one of {LOSSES}, got {self.loss!r}")
        for name in ("epochs", "batch_size", "hidden"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        loss = auto_loss(taxonomy, Y) if self.loss == "auto" else self.loss
        from htc.training.multipath import warn_single_path_loss

        warn_single_path_loss(Y, taxonomy, loss, stacklevel=2)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        train_rows, dev_rows = self._split(X.shape[0], rng)
        recipe = TrainConfig()  # warmup and gradient clipping as ``htc train``
        device = resolve_device(self.device)
        loss_fn = make_loss(loss, taxonomy, y_train=Y[train_rows], tau=float(self.tau),
                            multi_positive=True).to(device)
        x_train, y_train = X[train_rows], Y[train_rows]  # a batch at a time: CSR arrays or dense
        sparse_x = sp.issparse(X)
        epochs, batch_size = int(self.epochs), int(self.batch_size)
        steps = math.ceil(len(train_rows) / batch_size)
        total, warm = steps * epochs, int(recipe.warmup * steps * epochs)
        patience = epochs if self.patience is None else int(self.patience)

        def lr_lambda(step: int) -> float:  # linear warmup, then linear decay to 0
            if step < warm:
                return (step + 1) / warm
            return max(0.0, (total - step) / max(1, total - warm))

        loss_curve, validation_scores = [], []
        best, best_epoch, best_state, bad = -1.0, epochs, None, 0
        with _isolated_rng(torch, device):
            torch.manual_seed(seed)  # initial weights and dropout
            if sparse_x:
                from htc.training.sparse import RowAdam, SparseHead, clip_grad_norm, one_thread

                head = SparseHead(X.shape[1], loss_fn.n_outputs, int(self.hidden),
                                  float(self.dropout)).to(device)
                dense_params = head.dense_parameters()
                optimizers = [RowAdam([head.first.weight], lr=float(self.lr), betas=(0.9, 0.999),
                                      eps=1e-8)]
            else:
                head = Head(X.shape[1], loss_fn.n_outputs, int(self.hidden),
                            float(self.dropout)).to(device)
                dense_params, optimizers = list(head.parameters()), []
            optimizers.append(torch.optim.AdamW(dense_params, lr=float(self.lr),
                                                betas=(0.9, 0.999), eps=1e-8,
                                                weight_decay=float(self.weight_decay),
                                                fused=device.type in ("cpu", "cuda")))
            schedulers = [torch.optim.lr_scheduler.LambdaLR(o, lr_lambda) for o in optimizers]
            order = torch.Generator().manual_seed(seed)
            for epoch in range(epochs):
                head.train()
                perm = torch.randperm(len(train_rows), generator=order).numpy()
                losses = []
                steps_ctx = one_thread(torch) if sparse_x else nullcontext()
                with steps_ctx:
                    for step in range(steps):
                        idx = perm[step * batch_size:(step + 1) * batch_size]
                        value = loss_fn(head(_inputs(torch, head, x_train[idx], device)),
                                        _tensor(torch, y_train[idx], device))
                        for o in optimizers:
                            o.zero_grad(set_to_none=True)
                        value.backward()
                        if recipe.grad_clip > 0:
                            if sparse_x:
                                clip_grad_norm(list(head.parameters()), recipe.grad_clip)
                            else:
                                torch.nn.utils.clip_grad_norm_(head.parameters(), recipe.grad_clip)
                        for o, s in zip(optimizers, schedulers):
                            o.step()
                            s.step()
                        losses.append(float(value.detach()))
                loss_curve.append(float(np.mean(losses)))
                if self.verbose:
                    print(f"epoch {epoch + 1}: loss {loss_curve[-1]:.4f}", end="",
                          file=sys.stderr)
                if dev_rows is None:
                    if self.verbose:
                        print(file=sys.stderr)
                    continue
                proba = _marginals(torch, head, loss_fn, X[dev_rows], device)
                score = selection_score(proba, Y[dev_rows], taxonomy, self.decoder,
                                        beta=float(self.beta))
                validation_scores.append(score)
                if self.verbose:
                    print(f" · held-out per-document hF1 {score:.4f}", file=sys.stderr)
                # keep the latest of equally good epochs (small held-out sets plateau early);
                # only a strict improvement resets the patience
                bad = 0 if score > best else bad + 1
                if score >= best:
                    best, best_epoch = score, epoch + 1
                    best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
                if bad >= patience:
                    break
        if best_state is not None:
            head.load_state_dict(best_state)
        self.taxonomy_ = taxonomy
        self.classes_ = np.array(taxonomy.nodes, dtype=object)
        self.loss_ = loss
        self.head_ = head.eval()
        self.loss_module_ = loss_fn
        self.n_iter_ = len(loss_curve)
        self.best_epoch_ = best_epoch
        self.loss_curve_ = loss_curve
        self.validation_scores_ = validation_scores if dev_rows is not None else None
        self.best_validation_score_ = best if dev_rows is not None else None
        self._y_dtype = y_dtype
        return self

    def _split(self, n: int, rng) -> tuple[np.ndarray, np.ndarray | None]:
        """Training and dev rows (``None``: no dev set, no early stopping)."""
        fraction = float(self.validation_fraction)
        if fraction == 0 or n < 2:
            return np.arange(n), None
        n_dev = min(max(int(round(fraction * n)), 1), n - 1)
        perm = rng.permutation(n)
        return np.sort(perm[n_dev:]), np.sort(perm[:n_dev])

    # ------------------------------------------------------------------ inference
    def predict_proba(self, X, batch_size: int = 1024) -> np.ndarray:
        """Node marginals ``P(y ∈ Y | x)``, documents × ``classes_`` (float64)."""
        check_is_fitted(self)
        X = _validate_data(self, X, accept_sparse="csr", dtype=np.float32, reset=False)
        import torch

        device = next(self.head_.parameters()).device
        return _marginals(torch, self.head_, self.loss_module_, X, device, batch_size)

    def predict(self, X) -> np.ndarray:
        """Decoded 0/1 label matrix, documents × ``classes_``, ancestor-closed for every decoder.

        Its dtype is the training targets' (``int8`` when they were label names).
        """
        self._check_decoding()
        proba = self.predict_proba(X)
        y = decode(proba, self.taxonomy_, self.decoder, threshold=float(self.threshold),
                   beta=float(self.beta))
        return y.astype(self._y_dtype, copy=False)

    def score(self, X, y, sample_weight=None) -> float:
        """Micro hierarchical F1 of ``predict(X)`` against ``y`` (not subset accuracy)."""
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported by the hierarchical metrics")
        return hierarchical_f1_score(_label_lists(y), self.predict(X), self.taxonomy_)
