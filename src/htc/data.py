"""Reading and writing labelled documents in the JSON-lines format of HWV, RCV1, WOS and BGC.

Each line is ``{"token": ["<text>"], "label": ["L1", "L2", …]}``. The labels of a document may form
one or several root-to-node paths; the indicator matrix returned is always ancestor-closed.

Example
-------
>>> import tempfile, pathlib
>>> from htc.taxonomy import Taxonomy
>>> tax = Taxonomy.from_paths([["A", "A1"], ["B"]])
>>> p = pathlib.Path(tempfile.mkdtemp()) / "docs.jsonl"
>>> _ = p.write_text('{"token": ["hello"], "label": ["A1"]}\\n')
>>> corpus = read_jsonl(p, tax)
>>> corpus.texts, corpus.y.toarray().tolist()
(['hello'], [[1, 1, 0]])
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import unicodedata
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
import scipy.sparse as sp

from htc.taxonomy import Taxonomy
from htc.text_files import open_bytes as _open_bytes
from htc.text_files import undecodable as _undecodable


class DataError(ValueError):
    """A data file that cannot be read, with the file and line."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.message, self.path, self.line = message, path, line
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)


@dataclass
class Corpus:
    """Texts with an ancestor-closed sparse label indicator ``y`` (documents × taxonomy nodes).

    Iterating yields ``texts`` then ``y``, so ``texts, y = read_jsonl(...)`` works.
    :func:`read_jsonl` also records ``lines``, the line of ``source`` each document came from, and
    ``label_order``, a sparse (documents × nodes) matrix holding at ``[d, j]`` the 1-based position
    of label ``j`` in document ``d``'s list in the file (labels listed only; ancestors added by the
    closure are absent). Both are ``None`` for a corpus built in memory.
    """

    texts: list[str]
    y: sp.csr_matrix
    source: str | None = None
    n_skipped: int = 0
    skipped_lines: list[int] = field(default_factory=list)
    lines: np.ndarray | None = None
    label_order: sp.csr_matrix | None = None

    def __iter__(self) -> Iterator:
        yield self.texts
        yield self.y

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, rows: Sequence[int] | np.ndarray) -> Corpus:
        """The documents at ``rows``, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return Corpus([self.texts[i] for i in rows], self.y[rows], source=self.source,
                      lines=None if self.lines is None else self.lines[rows],
                      label_order=None if self.label_order is None else self.label_order[rows])


def read_jsonl(
    path: str | os.PathLike,
    taxonomy: Taxonomy,
    *,
    text_key: str = "token",
    label_key: str = "label",
    skip_bad_lines: bool = False,
    allow_empty: bool = False,
) -> Corpus:
    """Read labelled documents; labels are closed under ancestors.

    Bad JSON, a missing key, an empty label list or a label absent from the taxonomy raises
    :class:`DataError` naming the file and line. With ``skip_bad_lines=True`` such lines are
    skipped instead, counted in ``Corpus.n_skipped`` and reported in one warning.
    ``allow_empty=True`` accepts documents without labels (predictions may be empty).
    A label is looked up as written, then without surrounding spaces, as
    :meth:`Taxonomy.from_file` strips them: ``" A1 "`` is ``"A1"``.
    """
    path = os.fspath(path)
    texts: list[str] = []
    rows: list[int] = []
    cols: list[int] = []
    skipped: list[int] = []
    doc_lines: list[int] = []
    order: list[int] = []
    index = taxonomy._index
    for lineno, raw in _lines(path):
        try:
            text, labels = _parse_line(raw, text_key, label_key, allow_empty)
            idx = []
            for lab in labels:
                j = index.get(lab)
                if j is None:
                    j = index.get(unicodedata.normalize("NFC", lab.strip()))
                if j is None:
                    raise ValueError(f"label {lab!r} is not in the taxonomy")
                idx.append(j)
        except ValueError as err:
            if not skip_bad_lines:
                raise DataError(str(err), path=path, line=lineno) from None
            skipped.append(lineno)
            continue
        r = len(texts)
        texts.append(text)
        doc_lines.append(lineno)
        idx = list(dict.fromkeys(idx))  # a label listed twice keeps its first position
        rows.extend([r] * len(idx))
        cols.extend(idx)
        order.extend(range(1, len(idx) + 1))
    if skipped:
        warnings.warn(
            f"{path}: skipped {len(skipped)} bad line(s) (first: line {skipped[0]})", stacklevel=2
        )
    y = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(len(texts), len(taxonomy))
    )
    y.sum_duplicates()
    y.data[:] = 1
    label_order = sp.csr_matrix((np.asarray(order, dtype=np.int32), (rows, cols)),
                                shape=(len(texts), len(taxonomy)))
    return Corpus(texts, taxonomy.closure(y), source=path, n_skipped=len(skipped),
                  skipped_lines=skipped, lines=np.asarray(doc_lines, dtype=np.int64),
                  label_order=label_order)


def read_texts(path: str | os.PathLike, *, text_key: str = "token") -> list[str]:
    """Texts of a JSONL file (labels, if any, are ignored); errors name file and line.

    A file without documents (empty, or blank lines only) raises :class:`DataError`.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "new.jsonl"
    >>> _ = p.write_text('{"token": ["a", "b"]}\\n{"token": "c"}\\n')
    >>> read_texts(p)
    ['a b', 'c']
    """
    path = os.fspath(path)
    texts = []
    for lineno, raw in _lines(path):
        try:
            texts.append(_text_of(_parse_object(raw), text_key))
        except ValueError as err:
            raise DataError(str(err), path=path, line=lineno) from None
    if not texts:
        raise DataError("no documents (the file is empty)", path=path)
    return texts


def _lines(path: str):
    """``(line number, line)`` of the non-blank lines (a ``.gz`` file decompressed); ``DataError``
    if the file is missing, is not readable, is damaged, or is not UTF-8 (naming the first line
    that is not)."""
    try:
        fh = io.TextIOWrapper(_open_bytes(path), encoding="utf-8")
    except FileNotFoundError:
        raise DataError("file not found", path=path) from None
    except OSError as err:  # a folder, no permission, …
        raise DataError(f"cannot read ({err.strerror or err})", path=path) from None
    lineno = 0
    with fh:
        try:
            for lineno, raw in enumerate(fh, start=1):  # noqa: B007 (lineno used after the loop)
                if raw.strip():
                    yield lineno, raw
        except UnicodeDecodeError as err:
            line, col = _undecodable(path)
            raise DataError(f"not UTF-8 text (byte {col} of the line: {err.reason})", path=path,
                            line=line or lineno + 1) from None
        except (OSError, EOFError, zlib.error) as err:  # a damaged or truncated .gz
            raise DataError(f"cannot read ({err})", path=path, line=lineno + 1) from None


def _parse_object(raw: str) -> dict:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"invalid JSON ({err.msg} at column {err.colno})") from None
    except RecursionError:
        raise ValueError("invalid JSON (nested too deeply)") from None
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object per line")
    return obj


def _text_of(obj: dict, text_key: str) -> str:
    if text_key not in obj:
        raise ValueError(f"missing key {text_key!r} (keys present: {sorted(obj)})")
    text = obj[text_key]
    if isinstance(text, list) and all(isinstance(t, str) for t in text):
        return " ".join(text)
    if isinstance(text, str):
        return text
    raise ValueError(f"{text_key!r} must be a string or a list of strings")


def _parse_line(raw: str, text_key: str, label_key: str,
                allow_empty: bool = False) -> tuple[str, list[str]]:
    obj = _parse_object(raw)
    if label_key not in obj:
        raise ValueError(f"missing key {label_key!r} (keys present: {sorted(obj)})")
    text = _text_of(obj, text_key)
    labels = obj[label_key]
    if isinstance(labels, str):
        labels = [labels]
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"{label_key!r} must be a list of label strings")
    if not labels and not allow_empty:
        raise ValueError(f"{label_key!r} is empty: every document needs at least one label")
    return text, labels


def write_jsonl(
    path: str | os.PathLike,
    texts: Sequence[str] | None,
    y,
    taxonomy: Taxonomy,
    *,
    text_key: str = "token",
    label_key: str = "label",
) -> None:
    """Write documents and their labels (shallow to deep) atomically: a crash leaves no half file.

    ``texts`` may be ``None`` to write labels only (``token`` is then an empty list). The file
    follows the umask like any new file (see :func:`atomic_write`).

    >>> import tempfile, pathlib
    >>> tax = Taxonomy.from_paths([["A", "A1"], ["B"]])
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "pred.jsonl"
    >>> write_jsonl(p, None, tax.indicator([["A1"]]), tax)
    >>> p.read_text()
    '{"token": [], "label": ["A", "A1"]}\\n'
    """
    y = sp.csr_matrix(y)
    if y.shape[1] != len(taxonomy):
        raise ValueError(f"y has {y.shape[1]} columns; the taxonomy has {len(taxonomy)} labels")
    if texts is not None and len(texts) != y.shape[0]:
        raise ValueError(f"{len(texts)} texts but {y.shape[0]} label rows")
    with atomic_write(path, suffix=".jsonl") as fh:
        for r in range(y.shape[0]):
            cols = y.indices[y.indptr[r] : y.indptr[r + 1]]
            cols = cols[np.lexsort((cols, taxonomy.depth[cols]))]
            obj = {
                text_key: [texts[r]] if texts is not None else [],
                label_key: [taxonomy.nodes[j] for j in cols],
            }
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, suffix: str = "") -> Iterator[TextIO]:
    """Write UTF-8 text to a temporary file beside ``path`` that replaces ``path`` on success.

    An exception or a crash leaves ``path`` as it was and no temporary file behind. The file's
    permissions are those :func:`open` gives a new file (``0o666`` less the umask), not the
    owner-only ones of :func:`tempfile.mkstemp`. Only a regular file is replaced (a special file
    such as ``/dev/full`` is refused); a symbolic link is written through to its target.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(p) as fh:
    ...     _ = fh.write("done\\n")
    >>> p.read_text()
    'done\\n'
    """
    from htc.run_folder import writable_target

    path = os.fspath(writable_target(path))  # a regular file or a new path; a symbolic link: its target
    folder = os.path.dirname(os.path.abspath(path))
    while True:
        tmp = os.path.join(folder, f".tmp-{secrets.token_hex(8)}{suffix}")
        try:  # O_EXCL: never an existing file or link; mode 0o666 goes through the umask
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as err:  # a read-only or missing folder: name the file asked for
            raise OSError(f"{path}: cannot write in {folder} ({err.strerror or err})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON through :func:`atomic_write`: a crash never leaves a truncated
    file in place (permissions follow the umask)."""
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    with atomic_write(path, suffix=".json") as fh:
        json.dump(obj, fh, indent=2)
