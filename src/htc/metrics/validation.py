"""Input checks shared by the metrics and decoders: shapes, 0/1 values, probabilities."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from htc.taxonomy import Taxonomy


def is_binary(values: np.ndarray) -> bool:
    """Whether every value of ``values`` is 0 or 1 (one pass over the bytes for 1-byte integers)."""
    if values.dtype == bool or values.size == 0:
        return True
    if values.dtype.itemsize == 1 and values.dtype.kind in "iu":  # one pass over bytes
        return int(values.view(np.uint8).max()) <= 1
    if values.min() < 0 or values.max() > 1:
        return False
    return values.dtype.kind in "iu" or bool(np.all(values == np.round(values)))


def _dense_to_csr(a: np.ndarray) -> sp.csr_matrix:
    """CSR from a dense 0/1 array in one pass (SciPy's conversion is several times slower)."""
    if a.dtype == bool:
        mask = a
    elif a.dtype.itemsize == 1 and a.dtype.kind in "iu" and a.flags.c_contiguous:
        mask = a.view(bool)  # 0/1 bytes (checked before): a free view
    else:
        mask = a != 0
    flat = np.flatnonzero(mask)
    counts = np.bincount(flat // a.shape[1], minlength=a.shape[0]) if a.shape[1] else \
        np.zeros(a.shape[0], dtype=np.int64)
    indptr = np.zeros(a.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = flat - np.repeat(np.arange(a.shape[0], dtype=np.int64) * a.shape[1], counts)
    return sp.csr_matrix((np.ones(len(flat), dtype=np.int8), indices, indptr), shape=a.shape)


_LABEL_ROW = (list, tuple, set, frozenset)


def _label_rows(y, name: str) -> list | None:
    """The documents' label-name collections when ``y`` is a list of them, else ``None``.

    Rows that are all empty count (``[[], []]``); numbers mean a dense matrix (``None``).
    """
    if not isinstance(y, (list, tuple)) or not all(isinstance(r, (*_LABEL_ROW, str)) for r in y):
        return None
    if any(isinstance(r, str) for r in y):
        raise ValueError(f"{name} is a list of strings; give one list of label names per document, "
                         "e.g. [['A1'], ['B', 'A2']]")
    kinds = {isinstance(x, str) for r in y for x in r}
    if kinds == {False}:
        return None
    if kinds == {True, False}:
        raise ValueError(f"{name} mixes label names and numbers; give one list of label names per "
                         "document or a 0/1 matrix")
    return list(y)


def as_indicator(
    y, name: str, n_cols: int | None = None, *, taxonomy: Taxonomy | None = None
) -> sp.csr_matrix:
    """A 0/1 CSR matrix (int8) from a dense array, a sparse matrix or lists of label names.

    Label names (one list per document, e.g. ``[["A1"], ["B", "A2"]]``) need ``taxonomy``; as in a
    JSONL file read by :func:`htc.data.read_jsonl`, each row gets the named nodes and their
    ancestors (a matrix is taken as it is). Every ``ValueError`` names ``name``; an unknown label
    is named with its document.

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["B"]])
    >>> as_indicator([["A1"], ["B"]], "y_true", taxonomy=tax).toarray().tolist()
    [[1, 1, 0], [0, 0, 1]]
    """
    if taxonomy is not None and n_cols is None:
        n_cols = len(taxonomy)
    rows = _label_rows(y, name)
    if rows is not None and (taxonomy is not None or any(len(r) for r in rows)):
        if taxonomy is None:
            raise ValueError(f"{name} holds label names: pass the taxonomy to convert them, or "
                             "give a 0/1 matrix")
        for i, row in enumerate(rows):
            for lab in row:
                if lab not in taxonomy:
                    raise ValueError(f"{name}[{i}]: label {lab!r} is not in the taxonomy")
        m = taxonomy.indicator(rows).astype(np.int8)
    elif sp.issparse(y):
        m = sp.csr_matrix(y)
        if not is_binary(m.data):
            raise ValueError(f"{name} must hold only 0/1 values")
        m = m.astype(np.int8)
        m.eliminate_zeros()
    else:
        try:
            a = np.asarray(y)
        except ValueError as err:  # ragged nested lists
            raise ValueError(f"{name} must be a 0/1 matrix (documents, nodes) or one list of "
                             f"label names per document ({err})") from None
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be a numeric 0/1 matrix or one list of label names per "
                             f"document, got an array of dtype {a.dtype}")
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D (documents, nodes), got shape {a.shape}")
        if not is_binary(a):
            raise ValueError(f"{name} must hold only 0/1 values")
        m = _dense_to_csr(a)
    if m.ndim != 2:
        raise ValueError(f"{name} must be 2-D (documents, nodes), got shape {m.shape}")
    if n_cols is not None and m.shape[1] != n_cols:
        raise ValueError(
            f"{name} has {m.shape[1]} columns but the taxonomy has {n_cols} nodes "
            "(one column per node in taxonomy.nodes order)"
        )
    m.sort_indices()
    return m


def check_pair(y_true, y_pred, taxonomy: Taxonomy | None = None) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Validate a (truth, prediction) pair of equal shape (0/1 matrices or label-name lists).

    ``ValueError`` when ``y_true`` has no documents: a score over nothing is undefined.
    """
    t = as_indicator(y_true, "y_true", taxonomy=taxonomy)
    p = as_indicator(y_pred, "y_pred", taxonomy=taxonomy)
    check_documents(t, "y_true")
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    return t, p


def check_documents(y, name: str) -> None:
    """``ValueError`` naming ``name`` when the matrix ``y`` has no rows (documents).

    >>> check_documents(np.zeros((0, 3)), "y_true")
    Traceback (most recent call last):
    ...
    ValueError: y_true has no documents (shape (0, 3)): the metrics need at least one
    """
    if y.shape[0] == 0:
        raise ValueError(f"{name} has no documents (shape {tuple(y.shape)}): the metrics need at "
                         "least one")


def as_proba(proba, taxonomy: Taxonomy, name: str = "proba") -> np.ndarray:
    """A float64 ``(documents, nodes)`` array of probabilities in [0, 1]."""
    try:
        p = proba.toarray() if sp.issparse(proba) else np.asarray(proba)
        if p.dtype.kind == "c":
            raise ValueError("complex numbers")
        p = np.asarray(p, dtype=np.float64)
    except (ValueError, TypeError) as err:  # strings, ragged lists, complex numbers, …
        raise ValueError(f"{name} must be a numeric array of probabilities in [0, 1] ({err})") \
            from None
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != len(taxonomy):
        raise ValueError(
            f"{name} has shape {p.shape}; expected (documents, {len(taxonomy)}) with one column "
            "per taxonomy node"
        )
    if p.size and not np.isfinite(p.sum()) and not np.isfinite(p).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    lo, hi = (p.min(), p.max()) if p.size else (0.0, 1.0)
    if lo < -1e-9 or hi > 1 + 1e-9:
        raise ValueError(
            f"{name} must be probabilities in [0, 1] (got min {lo:.3g}, max {hi:.3g}); "
            "pass marginals, not logits"
        )
    return p if 0.0 <= lo and hi <= 1.0 else np.clip(p, 0.0, 1.0)


def check_beta(beta: float) -> float:
    """``beta`` must be a positive finite number."""
    if not np.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta must be a positive number, got {beta}")
    return float(beta)


def safe_divide(num, den, zero_division: float):
    """``num / den`` elementwise, ``zero_division`` where ``den == 0``."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, float(zero_division))
    np.divide(num, den, out=out, where=den != 0)
    return out if out.ndim else float(out)


def fbeta(precision, recall, beta: float, zero_division: float):
    """``(1+β²)·P·R / (β²·P + R)``, ``zero_division`` where ``P = R = 0``."""
    b2 = beta * beta
    p = np.asarray(precision, dtype=np.float64)
    r = np.asarray(recall, dtype=np.float64)
    return safe_divide((1 + b2) * p * r, b2 * p + r, zero_division)
