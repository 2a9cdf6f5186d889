"""Per-document sizes of the ancestor-closed sets, in one pass over dense or sparse input.

The micro and per-document hierarchical scores need, for each document, ``|Aug(T)|``, ``|Aug(P)|``
and ``|Aug(T) ∩ Aug(P)|`` only (Kiritchenko et al. 2005). Going through SciPy (dense → CSR, closure by
a sparse product, an elementwise product, row sums) reads and writes the data several times; here a
compiled scan reads each dense 0/1 matrix once, eight bytes at a time (checking the 0/1 values on the
way, sixteen zero words skipped per test), and the closed sets are counted from each document's few
nonzero columns with the taxonomy's ancestor lists. Row ranges run on a thread pool (the compiled
kernels release the GIL).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from numba import njit

from htc.taxonomy import Taxonomy

_NO_BYTES = np.zeros(8, dtype=np.uint8)
_NO_WORDS = np.zeros(1, dtype=np.uint64)
_NO_INTS = np.zeros(1, dtype=np.int32)


@njit(cache=True)
def _block_bytes(blocks, first_word, buf):
    """Byte positions of the nonzero bytes of ``blocks`` (rows of 16 words, the first being word
    ``first_word``) into ``buf``; returns their count and the OR of their values. A zero block costs
    one unrolled OR of its 16 words (two cache lines)."""
    k = 0
    acc = np.uint64(0)
    for blk in range(blocks.shape[0]):
        row = blocks[blk]
        x = np.uint64(0)
        for q in range(16):
            x |= row[q]
        if x:
            for q in range(16):
                y = row[q]
                if y:
                    for b in range(8):
                        byte = (y >> np.uint64(8 * b)) & np.uint64(0xFF)
                        if byte:
                            buf[k] = (first_word + blk * 16 + q) * 8 + b
                            k += 1
                            acc |= byte
    return k, acc


@njit(cache=True)
def _append(out, n_out, values, k):
    """``out`` (grown when needed) with ``values[:k]`` written from ``n_out``."""
    if n_out + k > out.shape[0]:
        bigger = np.empty(max(2 * out.shape[0], n_out + k), dtype=out.dtype)
        bigger[:n_out] = out[:n_out]
        out = bigger
    out[n_out:n_out + k] = values[:k]
    return out


@njit(cache=True)
def _byte_range(b8, lo, hi, buf):
    """Positions of the nonzero bytes of ``b8[lo:hi]`` (a few bytes) into ``buf``; count and OR."""
    k = 0
    acc = np.uint64(0)
    for j in range(lo, hi):
        if b8[j]:
            buf[k] = j
            k += 1
            acc |= np.uint64(b8[j])
    return k, acc


_SEGMENT_BLOCKS = 256  # 4,096 words per segment: its positions fit a 256 KiB buffer


@njit(cache=True)
def _nonzero_bytes(b8, b64, start, end):
    """Positions of the nonzero bytes in ``b8[start:end]`` (``b64``: the same buffer as 64-bit words),
    ascending, and whether one exceeds 1. One pass, in segments of 256 blocks of 16 words."""
    out = np.empty(max(16, (end - start) // 256), dtype=np.int64)
    buf = np.empty(_SEGMENT_BLOCKS * 16 * 8, dtype=np.int64)
    w0 = min((start + 7) // 8, end // 8)
    w1 = max(end // 8, w0)
    n_blocks = (w1 - w0) // 16
    k, acc = _byte_range(b8, start, min(end, w0 * 8), buf)  # bytes before the first whole word
    out = _append(out, 0, buf, k)
    n_out = k
    words = b64[w0:w0 + n_blocks * 16]
    for s0 in range(0, n_blocks, _SEGMENT_BLOCKS):
        s1 = min(n_blocks, s0 + _SEGMENT_BLOCKS)
        k, a = _block_bytes(words[s0 * 16:s1 * 16].reshape(s1 - s0, 16), w0 + s0 * 16, buf)
        acc |= a
        out = _append(out, n_out, buf, k)
        n_out += k
    k, a = _byte_range(b8, (w0 + n_blocks * 16) * 8, end, buf)  # the last words and bytes
    acc |= a
    out = _append(out, n_out, buf, k)
    n_out += k
    return out[:n_out], acc > 1


@njit(cache=True)
def _chunk_rows(dense, b8, b64, ptr, idx, m, lo, hi):
    """Rows ``lo..hi-1`` of one input (dense bytes or CSR) as a local CSR ``(indptr, columns)`` and
    whether a value exceeds 1."""
    if not dense:
        local_ptr = ptr[lo:hi + 1].astype(np.int64) - ptr[lo]
        return local_ptr, idx[ptr[lo]:ptr[hi]].astype(np.int64), False
    pos, over = _nonzero_bytes(b8, b64, lo * m, hi * m)
    local_ptr = np.zeros(hi - lo + 1, dtype=np.int64)
    cols = np.empty(pos.shape[0], dtype=np.int64)
    for e in range(pos.shape[0]):
        row = pos[e] // m
        local_ptr[row - lo + 1] += 1
        cols[e] = pos[e] - row * m
    for r in range(hi - lo):
        local_ptr[r + 1] += local_ptr[r]
    return local_ptr, cols, over


@njit(cache=True, nogil=True)
def _closed_counts(t_dense, t8, t64, t_ptr, t_idx, p_dense, p8, p64, p_ptr, p_idx, m,
                   anc_ptr, anc_idx, keep, lo, hi, tp, n_pred, n_true):
    """Rows ``lo..hi-1`` into ``tp``, ``n_pred``, ``n_true``; returns 1 (a truth value > 1),
    2 (a prediction value > 1), or 0."""
    tr_ptr, tr_cols, t_over = _chunk_rows(t_dense, t8, t64, t_ptr, t_idx, m, lo, hi)
    pr_ptr, pr_cols, p_over = _chunk_rows(p_dense, p8, p64, p_ptr, p_idx, m, lo, hi)
    flags = (1 if t_over else 0) | (2 if p_over else 0)
    mark = np.zeros(m, dtype=np.int64)  # 2·i+1: in Aug(T_i); 2·i+2: also seen in Aug(P_i)
    for r in range(hi - lo):
        i = lo + r
        in_t, seen = 2 * i + 1, 2 * i + 2
        k_true = 0
        for e in range(tr_ptr[r + 1] - 1, tr_ptr[r] - 1, -1):  # a marked node's ancestors are
            y = tr_cols[e]                                      # marked: skip it (deepest first
            if mark[y] >= in_t:                                 # when parents are numbered first)
                continue
            for f in range(anc_ptr[y], anc_ptr[y + 1]):
                a = anc_idx[f]
                if keep[a] and mark[a] < in_t:
                    mark[a] = in_t
                    k_true += 1
        k_pred = 0
        k_both = 0
        for e in range(pr_ptr[r + 1] - 1, pr_ptr[r] - 1, -1):
            y = pr_cols[e]
            if mark[y] >= seen:
                continue
            for f in range(anc_ptr[y], anc_ptr[y + 1]):
                a = anc_idx[f]
                if keep[a] and mark[a] < seen:
                    if mark[a] == in_t:
                        k_both += 1
                    mark[a] = seen
                    k_pred += 1
        tp[i], n_pred[i], n_true[i] = k_both, k_pred, k_true
    return flags


_POOL: list = []  # [(process id, executor)]


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _run_in_threads(kernel, args, n: int, min_rows: int = 4096) -> int:
    """Run ``kernel(*args, lo, hi, ...)`` over row ranges on a thread pool (the compiled kernel
    releases the GIL); returns the OR of the kernels' flags."""
    n_threads = min(_threads(), max(1, n // min_rows))
    bounds = np.linspace(0, n, n_threads + 1).astype(np.int64)
    if n_threads == 1:
        return kernel(*args[0], 0, n, *args[1])
    if not _POOL or _POOL[0][0] != os.getpid():  # none yet, or inherited through fork (no threads)
        _POOL[:] = [(os.getpid(), ThreadPoolExecutor(max_workers=_threads(),
                                                     thread_name_prefix="htc-metrics"))]
    jobs = [_POOL[0][1].submit(kernel, *args[0], int(lo), int(hi), *args[1])
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    flags = 0
    for job in jobs:
        flags |= job.result()
    return flags


def dense_bytes(a) -> tuple[np.ndarray, np.ndarray] | None:
    """The byte and 64-bit-word views of a C-ordered 2-D bool/int8/uint8 array whose data starts on
    an 8-byte boundary; ``None`` otherwise (the caller converts such input the general way).

    >>> b8, b64 = dense_bytes(np.eye(3, 8, dtype=np.int8))
    >>> b8.size, b64.size
    (24, 3)
    """
    if (not isinstance(a, np.ndarray) or a.ndim != 2 or a.dtype.itemsize != 1
            or a.dtype.kind not in "biu" or not a.flags.c_contiguous or a.ctypes.data % 8):
        return None
    b8 = a.reshape(-1).view(np.uint8)
    return b8, b8[:b8.size // 8 * 8].view(np.uint64)


def sparse_rows(m, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr, columns)`` of the nonzero entries of a SciPy sparse 0/1 matrix (explicit zeros
    left out); ``ValueError`` naming ``name`` when a stored value is not 0 or 1."""
    from htc.metrics.validation import is_binary

    m = m.tocsr() if m.format != "csr" else m
    data = m.data
    if not is_binary(data):
        raise ValueError(f"{name} must hold only 0/1 values")
    if data.size and not data.all():  # explicit zeros
        m = m.copy()
        m.eliminate_zeros()
    return m.indptr, m.indices


def _side(y, name: str, n_cols: int, taxonomy: Taxonomy):
    """One input as ``(dense, bytes, words, indptr, indices, n_documents)``, validated as
    :func:`htc.metrics.validation.as_indicator` validates it (same errors)."""
    from htc.metrics.validation import as_indicator

    if (isinstance(y, np.ndarray) or sp.issparse(y)) and y.ndim == 2 and y.shape[1] != n_cols:
        as_indicator(y, name, n_cols)  # raises its message
    views = dense_bytes(y)
    if views is not None:
        return True, *views, _NO_INTS, _NO_INTS, y.shape[0]
    if sp.issparse(y) and y.ndim == 2:
        ptr, idx = sparse_rows(y, name)
    else:
        m = as_indicator(y, name, n_cols, taxonomy=taxonomy)
        ptr, idx = m.indptr, m.indices
    return False, _NO_BYTES, _NO_WORDS, ptr, idx, len(ptr) - 1


def closed_set_counts(y_true, y_pred, taxonomy: Taxonomy, keep: np.ndarray | None = None):
    """``(|Aug(T_i) ∩ Aug(P_i)|, |Aug(P_i)|, |Aug(T_i)|)`` per document, the inputs validated as by
    :func:`htc.metrics.validation.check_pair` (same errors); ``keep``: a boolean mask over the nodes
    (e.g. depth ≤ d) outside which nodes do not count.

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> t = np.array([[0, 1, 0, 0]], dtype=np.int8)  # A1 → {A, A1}
    >>> p = np.array([[0, 0, 1, 1]], dtype=np.int8)  # A2, B → {A, A2, B}
    >>> [c.tolist() for c in closed_set_counts(t, p, tax)]
    [[1], [3], [2]]
    """
    from htc.metrics.validation import check_documents

    n_nodes = len(taxonomy)
    t = _side(y_true, "y_true", n_nodes, taxonomy)
    p = _side(y_pred, "y_pred", n_nodes, taxonomy)
    n_t, n_p = t[-1], p[-1]
    check_documents(np.broadcast_to(np.int8(0), (n_t, n_nodes)), "y_true")
    if n_t != n_p:
        raise ValueError(f"y_true has shape {(n_t, n_nodes)} but y_pred has shape {(n_p, n_nodes)}")
    anc = taxonomy.ancestor_matrix
    keep = np.ones(n_nodes, dtype=np.bool_) if keep is None else np.asarray(keep, dtype=np.bool_)
    tp, n_pred, n_true = (np.zeros(n_t, dtype=np.int64) for _ in range(3))
    flags = _run_in_threads(_closed_counts, ((*t[:-1], *p[:-1], n_nodes, anc.indptr.astype(np.int64),
                                              anc.indices.astype(np.int64), keep),
                                             (tp, n_pred, n_true)), n_t)
    for bit, name in ((1, "y_true"), (2, "y_pred")):
        if flags & bit:
            raise ValueError(f"{name} must hold only 0/1 values")
    return tp, n_pred, n_true
