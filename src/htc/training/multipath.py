"""What training does with documents that carry several root-to-node paths (multi-path).

A document's paths are its end labels (true labels without a true child), as ``htc stats`` counts
them. The losses of :data:`htc.losses.SINGLE_PATH_LOSSES` model a distribution over single paths;
``TrainConfig.multi_path`` says how they meet a multi-path training document:

- ``"split"``: train on it, the target mass split evenly over its positive siblings (conditional
  softmax) or positive leaves (leaf softmax), as in multi-label softmax training (Mahajan et al.
  2018, "Exploring the limits of weakly supervised pretraining");
- ``"error"``: refuse before any encoder is fitted, naming the file, line and document;
- ``"first"``: keep the path of the end label listed first in the file (the labels of a line are
  a set once closed under ancestors, so the order comes from :attr:`Corpus.label_order`);
- ``"drop"``: leave the document out.

``"first"`` and ``"drop"`` change the training targets of every loss, so that losses can be
compared on the same data; ``"split"`` and ``"error"`` leave bce, conditional_sigmoid and champ,
which take several paths natively, untouched. Dev and test sets are never changed.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from htc.data import Corpus, DataError
from htc.losses import SINGLE_PATH_LOSSES
from htc.stats import end_labels
from htc.taxonomy import Taxonomy
from htc.train_config import MULTI_PATH


class MultiPathError(DataError):
    """Multi-path training documents that the chosen loss and ``multi_path`` cannot take."""


class MultiPathLossWarning(UserWarning):
    """A single-path (softmax-family) loss fitted on training data where documents have several
    paths: its marginals cannot put mass on several children, so it is the wrong model there."""


def single_path_loss_message(n_multi: int, n_docs: int, loss: str) -> str:
    """The warning text: the share of multi-path documents and the losses that fit them."""
    return (f"{n_multi} of {n_docs} training documents ({n_multi / max(1, n_docs):.0%}) have "
            f"several paths, but the {loss} loss models one path per document: its siblings' "
            "marginals share one unit of mass, so it cannot predict several children and its "
            "target mass is split over them. Losses that model several paths fit such data: "
            "conditional_sigmoid (or bce), e.g. htc train --loss conditional_sigmoid (or --loss "
            "auto, which picks by the data), or HierarchicalClassifier(loss='auto')")


def warn_single_path_loss(y, taxonomy: Taxonomy, loss: str, *, stacklevel: int = 2) -> int:
    """Warn (:class:`MultiPathLossWarning`) when ``loss`` is single-path and some documents of
    ``y`` have several paths; returns their count."""
    n_multi = len(multi_path_rows(y, taxonomy))
    if n_multi and loss in SINGLE_PATH_LOSSES:
        warnings.warn(single_path_loss_message(n_multi, y.shape[0], loss), MultiPathLossWarning,
                      stacklevel=stacklevel + 1)
    return n_multi


def multi_path_rows(y, taxonomy: Taxonomy) -> np.ndarray:
    """Indices of the documents (rows of ``y``) with more than one end label."""
    return np.flatnonzero(np.diff(end_labels(y, taxonomy).indptr) > 1)


def first_paths(corpus: Corpus, taxonomy: Taxonomy) -> sp.csr_matrix:
    """``corpus.y`` reduced to the end label listed first in the file, with its ancestors.

    >>> import pathlib, tempfile
    >>> from htc.data import read_jsonl
    >>> tax = Taxonomy.from_paths([["A", "A1"], ["B", "B1"]])
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.jsonl"
    >>> _ = p.write_text('{"token": ["x"], "label": ["A", "B", "B1", "A1"]}\\n')
    >>> tax.labels_of(first_paths(read_jsonl(p, tax), tax))
    [['B', 'B1']]
    """
    if corpus.label_order is None:
        raise ValueError("multi_path='first' keeps the path listed first in the file, but this "
                         "training corpus has no label order (it was not read by read_jsonl); "
                         "use multi_path='split' or 'drop'")
    ends = end_labels(corpus.y, taxonomy)
    ranked = sp.csr_matrix(ends.multiply(corpus.label_order), dtype=np.int64)
    ranked.eliminate_zeros()
    counts = np.diff(ranked.indptr)
    if (counts == 0).any() and (np.diff(ends.indptr)[counts == 0] > 0).any():
        raise ValueError("label_order does not match y (an end label is not listed)")
    rows = np.repeat(np.arange(ranked.shape[0]), counts)
    by_rank = np.lexsort((ranked.data, rows))  # grouped by row, lowest position first
    has = np.flatnonzero(counts)
    first = ranked.indices[by_rank[ranked.indptr[has]]]
    y = sp.csr_matrix((np.ones(len(has), dtype=np.int8), (has, first)), shape=corpus.y.shape)
    return sp.csr_matrix(taxonomy.closure(y))


def _refusal(train: Corpus, taxonomy: Taxonomy, loss: str, multi: np.ndarray) -> MultiPathError:
    doc = int(multi[0])
    ends = end_labels(train.y[doc], taxonomy).indices
    text = train.texts[doc]
    text = text if len(text) <= 40 else text[:40] + "…"
    line = None if train.lines is None else int(train.lines[doc])
    return MultiPathError(
        f"training document {doc} ({text!r}) has {len(ends)} paths, ending at "
        f"{', '.join(taxonomy.nodes[j] for j in ends)}; {len(multi)} of the {len(train)} training "
        f"documents have several paths, and the {loss} loss models a single path per document "
        "(multi_path='error'). Choose how to train on them: multi_path='split' (target mass "
        "split over the positive labels), 'first' (keep the path listed first) or 'drop' (leave "
        "them out); on the command line, htc train --multi-path split|first|drop",
        path=train.source, line=line)


def prepare_targets(train: Corpus, taxonomy: Taxonomy, loss: str,
                    multi_path: str) -> tuple[Corpus, np.ndarray | None, str | None, int]:
    """The training corpus the loss sees under ``multi_path`` (see the module docstring).

    Returns ``(corpus, kept rows or None, a notice for the user or None, multi-path count)``;
    kept rows (``"drop"``) index the given corpus, e.g. to slice precomputed features.
    """
    if multi_path not in MULTI_PATH:
        raise ValueError(f"multi_path must be one of {MULTI_PATH}, got {multi_path!r}")
    multi = multi_path_rows(train.y, taxonomy)
    m, n = len(multi), len(train)
    if m == 0:
        return train, None, None, 0
    single = loss in SINGLE_PATH_LOSSES
    if multi_path == "error":
        if single:
            raise _refusal(train, taxonomy, loss, multi)
        return train, None, None, m
    if multi_path == "split":
        notice = None
        if single:
            notice = single_path_loss_message(m, n, loss) + " (multi_path='split')"
            warnings.warn(notice, MultiPathLossWarning, stacklevel=3)
        return train, None, notice, m
    if multi_path == "first":
        corpus = Corpus(train.texts, first_paths(train, taxonomy), source=train.source,
                        lines=train.lines, label_order=train.label_order)
        return corpus, None, (f"{m} of {n} training documents have several paths: kept the path "
                              "listed first in each (multi_path='first')"), m
    keep = np.setdiff1d(np.arange(n), multi)
    if len(keep) == 0:
        raise MultiPathError(f"all {n} training documents have several paths, so "
                             "multi_path='drop' leaves none; use 'split' or 'first'",
                             path=train.source)
    return train.subset(keep), keep, (f"dropped {m} of {n} training documents that have several "
                                      "paths (multi_path='drop')"), m
