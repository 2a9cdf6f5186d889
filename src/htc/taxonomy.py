"""The label hierarchy: parsing, validation, ancestry and closure.

A :class:`Taxonomy` holds the labels of a tree or a DAG below a virtual root. Labels are indexed
``0 .. n-1`` in a stable order (the order in which they first appear as a child in the file or edge
list); the root is never a label. Labels are text: they are NFC-normalised (two Unicode spellings of
one label are one label) and may not hold control or invisible characters. Every set-valued operation works on 0/1 indicator matrices of
shape ``(documents, n)``, dense or SciPy sparse, so that metrics and decoders are vectorised.

Example
-------
>>> tax = Taxonomy.from_edges([("Root", "A"), ("Root", "B"), ("A", "A1"), ("A", "A2")])
>>> tax.nodes
['A', 'B', 'A1', 'A2']
>>> tax.closure([[0, 0, 1, 0]]).tolist()
[[1, 0, 1, 0]]
"""

from __future__ import annotations

import os
import unicodedata
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from functools import cached_property

import numpy as np
import scipy.sparse as sp

ROOT = "Root"
# format characters that are part of a word's spelling in some scripts (Persian, Indic) and in emoji
JOINERS = {"\u200c", "\u200d"}


def normalize_label(label: str) -> str:
    """The NFC form of ``label``; a ``ValueError`` for a control, invisible (zero-width, BOM) or
    private-use character in it.

    >>> normalize_label("Cafe\u0301") == "Caf\u00e9"
    True
    >>> normalize_label("A\u200bB")
    Traceback (most recent call last):
    ...
    ValueError: label 'A\u200bB' holds an invisible or control character (U+200B ZERO WIDTH SPACE): labels are printable text
    """
    for ch in label:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp") or (cat == "Cf" and ch not in JOINERS):
            name = unicodedata.name(ch, "a control character")
            raise ValueError(f"label {label!r} holds an invisible or control character (U+{ord(ch):04X} "
                             f"{name}): labels are printable text")
    return unicodedata.normalize("NFC", label)


class TaxonomyError(ValueError):
    """A taxonomy that cannot be used, with the place it came from.

    ``str(err)`` reads ``"path:line: message"`` when the file and line are known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike | None = None,
        line: int | None = None,
        labels: Sequence[str] = (),
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.labels = tuple(labels)
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        elif line is not None:
            where = f"edge {line}: "
        super().__init__(where + message)


def _check_spelling(
    spelled: dict[tuple[str, str], tuple[str, str, int]],
    edge: tuple[str, str],
    raw: tuple[str, str],
    path: str,
    line: int,
) -> None:
    """``TaxonomyError`` when removing spaces makes a label its own parent or repeats an edge.

    ``spelled`` maps each stripped ``(parent, child)`` edge seen so far to its raw spelling and
    line; edges spelled identically are left to the constructor's own checks.
    """
    parent, child = edge
    if parent == child and raw[0] != raw[1]:
        raise TaxonomyError(
            f"{raw[0]!r} and {raw[1]!r} are the same label once surrounding spaces are removed: "
            "a self-loop",
            path=path, line=line, labels=[child],
        )
    first = spelled.setdefault(edge, (*raw, line))
    if first[:2] != raw:
        where = "on the same line" if first[2] == line else f"at line {first[2]}"
        raise TaxonomyError(
            f"child {child!r} is listed twice under parent {parent!r} once surrounding spaces are "
            f"removed ({raw[1]!r} under {raw[0]!r} here, {first[1]!r} under {first[0]!r} {where})",
            path=path, line=line, labels=[parent, child],
        )


class Taxonomy:
    """A label hierarchy (tree or DAG) below a virtual root.

    Build one with :meth:`from_file`, :meth:`from_edges` or :meth:`from_paths`.

    Attributes
    ----------
    nodes : list[str]
        Labels in stable order, root excluded. Column ``j`` of every indicator matrix is ``nodes[j]``.
    depth : numpy.ndarray
        Depth of each node: top-level labels have depth 1; in a DAG, the length of the longest
        root-to-node path (so a child is always deeper than each of its parents).
    """

    def __init__(
        self,
        edges: Sequence[tuple[str, str, int]],
        *,
        root: str = ROOT,
        source: str | os.PathLike | None = None,
    ) -> None:
        """Build from ``(parent, child, line)`` triples; prefer the ``from_*`` constructors."""
        self.root = root
        self.source = None if source is None else str(source)
        if not edges:
            raise TaxonomyError("the taxonomy is empty: no parent-child line", path=self.source)
        normalized = []
        for parent, child, line in edges:
            try:
                normalized.append((normalize_label(parent) if isinstance(parent, str) else parent,
                                   normalize_label(child) if isinstance(child, str) else child, line))
            except ValueError as err:
                raise TaxonomyError(str(err), path=self.source, line=line) from None
        edges = normalized
        labels: list[str] = []
        index: dict[str, int] = {}
        first_line: dict[str, int] = {}
        seen_edges: dict[tuple[str, str], int] = {}
        for parent, child, line in edges:
            for lab in (parent, child):
                if not isinstance(lab, str) or lab.strip() == "":
                    raise TaxonomyError(
                        f"empty or non-string label {lab!r}", path=self.source, line=line
                    )
            if parent == child:
                raise TaxonomyError(
                    f"self-loop: {child!r} is listed as its own child",
                    path=self.source,
                    line=line,
                    labels=[child],
                )
            if child == root:
                raise TaxonomyError(
                    f"the root {root!r} is listed as a child of {parent!r}",
                    path=self.source,
                    line=line,
                    labels=[parent, root],
                )
            key = (parent, child)
            if key in seen_edges:
                before = seen_edges[key]
                where = "on the same line" if before == line else f"first at line {before}"
                raise TaxonomyError(
                    f"child {child!r} is listed twice under parent {parent!r} ({where})",
                    path=self.source,
                    line=line,
                    labels=[parent, child],
                )
            seen_edges[key] = line
            for lab in (parent, child):
                first_line.setdefault(lab, line)
            if child not in index:
                index[child] = len(labels)
                labels.append(child)
        # Parents that never appear as a child (other than the root) are nodes too: they will be
        # reported as unreachable below.
        for parent, _child, _line in edges:
            if parent != root and parent not in index:
                index[parent] = len(labels)
                labels.append(parent)
        if root not in first_line:
            raise TaxonomyError(
                f"no line starts with the root {root!r}: the top-level labels are unknown",
                path=self.source,
                line=edges[0][2],
            )
        n = len(labels)
        parents: list[list[int]] = [[] for _ in range(n)]
        children: list[list[int]] = [[] for _ in range(n)]
        root_children: list[int] = []
        edge_line: dict[tuple[int, int], int] = {}
        for parent, child, line in edges:
            c = index[child]
            if parent == root:
                root_children.append(c)
                parents[c].append(-1)
            else:
                p = index[parent]
                parents[c].append(p)
                children[p].append(c)
                edge_line[(p, c)] = line
        self.nodes: list[str] = labels
        self._index = index
        self._parents = [np.array([p for p in ps if p >= 0], dtype=np.int64) for ps in parents]
        self._has_root_parent = np.array([-1 in ps for ps in parents], dtype=bool)
        self._children = [np.array(cs, dtype=np.int64) for cs in children]
        self.root_children = np.array(root_children, dtype=np.int64)
        self._check_acyclic(edge_line)
        self._check_reachable(first_line)
        self.depth = self._longest_depth()

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_file(cls, path: str | os.PathLike, *, root: str = ROOT) -> Taxonomy:
        """Read the tab-separated format: one ``parent<TAB>child1<TAB>child2…`` line per node.

        The top-level labels are on the line that starts with ``root`` (``Root``). Blank lines are
        skipped. A node listed under several parents makes a DAG. Spaces around a label are
        removed (``"A1 "`` is ``"A1"``); a label of spaces only, or two spellings that become the
        same label under one parent (or a label and its parent), raise :class:`TaxonomyError`.

        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "toy.taxonomy"
        >>> _ = p.write_text("Root\\tA\\tB\\nA \\tA1\\tA2\\n")
        >>> Taxonomy.from_file(p).leaves_labels
        ['B', 'A1', 'A2']
        """
        path = os.fspath(path)
        try:  # utf-8-sig: a byte-order mark that an editor put first is not part of the first label
            with open(path, encoding="utf-8-sig") as fh:
                text = fh.read()
        except FileNotFoundError:
            raise TaxonomyError("file not found", path=path) from None
        except UnicodeDecodeError as err:
            from htc.text_files import undecodable as _undecodable

            line, col = _undecodable(path)
            raise TaxonomyError(f"not UTF-8 text (byte {col} of the line: {err.reason})",
                                path=path, line=line) from None
        except OSError as err:  # a folder, no permission, …
            raise TaxonomyError(f"cannot read ({err.strerror or err})", path=path) from None
        edges: list[tuple[str, str, int]] = []
        spelled: dict[tuple[str, str], tuple[str, str, int]] = {}  # edge -> first raw spelling
        # lines end at \n, \r\n or \r (read in text mode), as for the JSONL data files
        for lineno, raw in enumerate(text.split("\n"), start=1):
            line = raw.rstrip("\r\n")
            if line.strip() == "":
                continue
            raw_fields = line.split("\t")
            fields = [f.strip() for f in raw_fields]
            if any(f == "" for f in fields):
                raise TaxonomyError(
                    "empty label (two tabs in a row, a tab at the start or end of the line, or a "
                    "label of spaces only)",
                    path=path,
                    line=lineno,
                )
            if len(fields) < 2:
                raise TaxonomyError(
                    f"line lists no child for {fields[0]!r} (expected 'parent<TAB>child…')",
                    path=path,
                    line=lineno,
                    labels=fields,
                )
            parent = fields[0]
            for child, raw_child in zip(fields[1:], raw_fields[1:]):
                _check_spelling(spelled, (parent, child), (raw_fields[0], raw_child), path, lineno)
                edges.append((parent, child, lineno))
        return cls(edges, root=root, source=path)

    @classmethod
    def from_edges(cls, pairs: Iterable[tuple[str, str]], *, root: str = ROOT) -> Taxonomy:
        """Build from ``(parent, child)`` pairs; top-level labels have ``root`` as parent.

        >>> Taxonomy.from_edges([("Root", "A"), ("A", "B")]).depth.tolist()
        [1, 2]
        """
        edges = []
        for k, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TaxonomyError(f"expected a (parent, child) pair, got {pair!r}", line=k)
            edges.append((pair[0], pair[1], k))
        return cls(edges, root=root)

    @classmethod
    def from_paths(cls, paths: Iterable[Sequence[str]], *, root: str = ROOT) -> Taxonomy:
        """Build from root-to-node label paths (the root itself omitted); shared prefixes merge.

        >>> Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]]).nodes
        ['A', 'A1', 'A2', 'B']
        """
        edges: list[tuple[str, str, int]] = []
        seen: set[tuple[str, str]] = set()
        for k, path in enumerate(paths):
            if isinstance(path, str) or len(path) == 0:
                raise TaxonomyError(f"path {k} must be a non-empty sequence of labels", line=k)
            parent = root
            for lab in path:
                if (parent, lab) not in seen:
                    seen.add((parent, lab))
                    edges.append((parent, lab, k))
                parent = lab
        return cls(edges, root=root)

    # ------------------------------------------------------------------ validation
    def _check_acyclic(self, edge_line: dict[tuple[int, int], int]) -> None:
        n = len(self.nodes)
        color = np.zeros(n, dtype=np.int8)  # 0 new, 1 on stack, 2 done
        for start in range(n):
            if color[start]:
                continue
            stack = [(start, 0)]
            path = [start]
            color[start] = 1
            while stack:
                node, k = stack[-1]
                kids = self._children[node]
                if k < len(kids):
                    stack[-1] = (node, k + 1)
                    c = int(kids[k])
                    if color[c] == 1:
                        cycle = path[path.index(c) :] + [c]
                        names = [self.nodes[i] for i in cycle]
                        line = edge_line.get((node, c))
                        raise TaxonomyError(
                            "cycle: " + " -> ".join(repr(x) for x in names),
                            path=self.source,
                            line=line,
                            labels=names,
                        )
                    if color[c] == 0:
                        color[c] = 1
                        stack.append((c, 0))
                        path.append(c)
                else:
                    color[node] = 2
                    stack.pop()
                    path.pop()

    def _check_reachable(self, first_line: dict[str, int]) -> None:
        seen = np.zeros(len(self.nodes), dtype=bool)
        queue = deque(int(c) for c in self.root_children)
        seen[self.root_children] = True
        while queue:
            u = queue.popleft()
            for c in self._children[u]:
                if not seen[c]:
                    seen[c] = True
                    queue.append(int(c))
        if not seen.all():
            bad = [self.nodes[i] for i in np.flatnonzero(~seen)]
            shown = ", ".join(repr(b) for b in bad[:5]) + (" …" if len(bad) > 5 else "")
            raise TaxonomyError(
                f"{len(bad)} label(s) unreachable from the root {self.root!r}: {shown}",
                path=self.source,
                line=first_line.get(bad[0]),
                labels=bad,
            )

    def _longest_depth(self) -> np.ndarray:
        depth = np.zeros(len(self.nodes), dtype=np.int64)
        for u in self.topological_order:
            ps = self._parents[u]
            depth[u] = 1 + (depth[ps].max() if len(ps) else 0)
        return depth

    # ------------------------------------------------------------------ structure
    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, label: object) -> bool:
        return label in self._index

    def __repr__(self) -> str:
        kind = "tree" if self.is_tree else "DAG"
        return (
            f"Taxonomy({kind}, {len(self)} labels, {len(self.leaves)} leaves, "
            f"depth {self.max_depth})"
        )

    def index(self, label: str) -> int:
        """Column index of ``label``; ``KeyError`` naming the label if unknown."""
        try:
            return self._index[label]
        except KeyError:
            pass
        try:
            return self._index[unicodedata.normalize("NFC", label)]
        except (KeyError, TypeError):
            raise KeyError(f"label {label!r} is not in the taxonomy") from None

    def indices(self, labels: Iterable[str]) -> np.ndarray:
        """Column indices of several labels."""
        return np.array([self.index(lab) for lab in labels], dtype=np.int64)

    def parents(self, i: int) -> np.ndarray:
        """Indices of the parents of node ``i`` (the root excluded: top-level nodes give ``[]``)."""
        return self._parents[i]

    def children(self, i: int) -> np.ndarray:
        """Indices of the children of node ``i``; ``i = -1`` means the root."""
        return self.root_children if i == -1 else self._children[i]

    def is_top_level(self, i: int) -> bool:
        """Whether the root is a parent of node ``i``."""
        return bool(self._has_root_parent[i])

    @cached_property
    def is_tree(self) -> bool:
        """True when every node has exactly one parent (counting the root)."""
        counts = np.array([len(p) for p in self._parents]) + self._has_root_parent
        return bool((counts == 1).all())

    @cached_property
    def max_depth(self) -> int:
        """Depth of the deepest node."""
        return int(self.depth.max())

    @cached_property
    def leaves(self) -> np.ndarray:
        """Indices of the nodes without children, in node order."""
        return np.array([i for i, c in enumerate(self._children) if len(c) == 0], dtype=np.int64)

    @property
    def leaves_labels(self) -> list[str]:
        """Labels of :attr:`leaves`."""
        return [self.nodes[i] for i in self.leaves]

    @cached_property
    def is_leaf(self) -> np.ndarray:
        """Boolean mask over nodes: no children."""
        mask = np.zeros(len(self), dtype=bool)
        mask[self.leaves] = True
        return mask

    @cached_property
    def topological_order(self) -> np.ndarray:
        """Node indices with every parent before its children (breadth-first from the root)."""
        indeg = np.array([len(p) for p in self._parents])
        queue = deque(int(c) for c in self.root_children if indeg[c] == 0)
        order = []
        while queue:
            u = queue.popleft()
            order.append(u)
            for c in self._children[u]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    queue.append(int(c))
        return np.array(order, dtype=np.int64)

    @cached_property
    def levels(self) -> list[np.ndarray]:
        """``levels[d-1]`` holds the nodes of depth ``d`` (top-level first)."""
        return [np.flatnonzero(self.depth == d) for d in range(1, self.max_depth + 1)]

    def ancestors(self, i: int) -> np.ndarray:
        """Proper ancestors of node ``i`` (root and ``i`` excluded), in node order."""
        row = self.ancestor_matrix.indices[
            self.ancestor_matrix.indptr[i] : self.ancestor_matrix.indptr[i + 1]
        ]
        return np.sort(row[row != i])

    def descendants(self, i: int) -> np.ndarray:
        """Proper descendants of node ``i``, in node order."""
        col = self.descendant_matrix
        row = col.indices[col.indptr[i] : col.indptr[i + 1]]
        return np.sort(row[row != i])

    @cached_property
    def ancestor_matrix(self) -> sp.csr_matrix:
        """Sparse ``(n, n)`` 0/1 matrix ``A`` with ``A[i, j] = 1`` iff ``j`` is ``i`` or an ancestor.

        The closure of an indicator matrix ``Y`` is ``(Y @ A) > 0``.
        """
        anc: list[set[int]] = [set() for _ in range(len(self))]
        for u in self.topological_order:
            s = {int(u)}
            for p in self._parents[u]:
                s |= anc[p]
            anc[u] = s
        rows = np.repeat(np.arange(len(self)), [len(s) for s in anc])
        cols = np.fromiter((j for s in anc for j in sorted(s)), dtype=np.int64, count=len(rows))
        data = np.ones(len(rows), dtype=np.int32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(self), len(self)))

    @cached_property
    def descendant_matrix(self) -> sp.csr_matrix:
        """Sparse transpose of :attr:`ancestor_matrix`: ``D[i, j] = 1`` iff ``j`` is ``i`` or below it."""
        return self.ancestor_matrix.T.tocsr()

    @cached_property
    def parent_matrix(self) -> sp.csr_matrix:
        """Sparse ``(n, n)`` matrix ``P`` with ``P[c, p] = 1`` iff ``p`` is a parent of ``c``."""
        rows = np.repeat(np.arange(len(self)), [len(p) for p in self._parents])
        cols = np.concatenate(self._parents) if len(rows) else np.zeros(0, dtype=np.int64)
        return sp.csr_matrix(
            (np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(self), len(self))
        )

    @cached_property
    def closure_sizes(self) -> np.ndarray:
        """``|A⁺(i)|``: the number of nodes in ``i``'s ancestor-or-self set (root excluded)."""
        return np.diff(self.ancestor_matrix.indptr)

    # ------------------------------------------------------------------ sets
    def closure(self, indicator):
        """Add every ancestor to each row of a 0/1 matrix (dense in → dense out, sparse → CSR).

        >>> tax = Taxonomy.from_paths([["A", "A1"], ["B"]])
        >>> tax.closure([[0, 1, 0]]).tolist()
        [[1, 1, 0]]
        """
        if sp.issparse(indicator):
            y = sp.csr_matrix(indicator)
            self._check_width(y.shape)
            out = (y.astype(bool).astype(np.int32) @ self.ancestor_matrix).tocsr()
            out.data = np.ones_like(out.data, dtype=np.int8)
            return out.astype(np.int8)
        y = np.asarray(indicator)
        squeeze = y.ndim == 1
        y2 = np.atleast_2d(y)
        self._check_width(y2.shape)
        out = (sp.csr_matrix(y2.astype(bool).astype(np.int32)) @ self.ancestor_matrix).toarray() > 0
        out = out.astype(y.dtype if y.dtype != object else np.int8)
        return out[0] if squeeze else out

    def is_consistent(self, indicator) -> np.ndarray:
        """Per row: True when every predicted node's ancestors are predicted too."""
        closed = self.closure(indicator)
        if sp.issparse(closed):
            y = sp.csr_matrix(indicator).astype(bool)
            return np.asarray(closed.astype(bool).sum(axis=1)).ravel() == np.asarray(
                y.sum(axis=1)
            ).ravel()
        y = np.atleast_2d(np.asarray(indicator)).astype(bool)
        return (np.atleast_2d(closed).astype(bool) == y).all(axis=1)

    def indicator(self, label_sets: Iterable[Iterable[str]], *, close: bool = True) -> sp.csr_matrix:
        """Sparse 0/1 matrix from label sets (``close`` adds ancestors)."""
        rows, cols = [], []
        for r, labels in enumerate(label_sets):
            for lab in labels:
                rows.append(r)
                cols.append(self.index(lab))
        n_rows = (max(rows) + 1) if rows else 0
        if hasattr(label_sets, "__len__"):
            n_rows = len(label_sets)  # type: ignore[arg-type]
        y = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n_rows, len(self))
        )
        y.sum_duplicates()
        y.data[:] = 1
        return self.closure(y) if close else y

    def labels_of(self, indicator) -> list[list[str]]:
        """Label lists (node order) of each row of a 0/1 matrix."""
        y = sp.csr_matrix(indicator)
        return [
            [self.nodes[j] for j in sorted(y.indices[y.indptr[r] : y.indptr[r + 1]])]
            for r in range(y.shape[0])
        ]

    def paths(self, i: int) -> list[list[int]]:
        """All root-to-``i`` paths as index lists (one in a tree)."""
        if len(self._parents[i]) == 0:
            return [[i]]
        out = [[i]] if self._has_root_parent[i] else []
        for p in self._parents[i]:
            out.extend(path + [i] for path in self.paths(int(p)))
        return out

    def to_file(self, path: str | os.PathLike) -> None:
        """Write the tab-separated format so that :meth:`from_file` gives back the same node order.

        Consecutive nodes that share their first parent go on one line; a DAG's other parent
        links follow at the end.
        """
        def first_parent(j: int) -> str:
            return self.root if self._has_root_parent[j] else self.nodes[int(self._parents[j][0])]

        lines: list[list[str]] = []
        for j, label in enumerate(self.nodes):
            parent = first_parent(j)
            if lines and lines[-1][0] == parent:
                lines[-1].append(label)
            else:
                lines.append([parent, label])
        by_parent: dict[str, list[str]] = defaultdict(list)
        for j, label in enumerate(self.nodes):
            others = [self.nodes[int(p)] for p in self._parents[j]]
            if not self._has_root_parent[j]:
                others = others[1:]  # the first parent is already written above
            for parent in others:
                by_parent[parent].append(label)
        lines.extend([parent, *kids] for parent, kids in by_parent.items())
        with open(path, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write("\t".join(line) + "\n")

    def _check_width(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 2 or shape[1] != len(self):
            raise ValueError(
                f"indicator matrix has shape {shape}; expected (documents, {len(self)}) "
                "with one column per taxonomy node"
            )
