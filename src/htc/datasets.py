"""Datasets: Hierarchical WikiVitals (HWV) and synthetic hierarchies for tests and benchmarks.

HWV's validation and test splits and its taxonomy ship inside this package (``htc/bundled/hwv``,
MIT-licensed, released with Plaud et al., CoNLL 2024; :func:`bundled_dataset` gives the folder,
:func:`verify_bundled` checks the files against the released ones). The official train split is not
included: when ``hwv_train.json`` is absent, :func:`load_hwv` builds train and dev from the official
validation file by a seeded split stratified by top-level label (80% train, 20% dev by default) and
keeps the official test file as test. ``HWV.split`` says which split was used, ``HWV.folder`` where
the files came from.

Example
-------
>>> tax, y = make_synthetic(100, depth=3, branching=2, seed=0)
>>> y.shape
(100, 14)
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from htc.data import Corpus, read_jsonl
from htc.taxonomy import Taxonomy

ENV_VAR = "HTC_DATA_DIR"
BUNDLED = Path(__file__).resolve().parent / "bundled"
# sha256 of the files as released (a ``.gz`` file: of its decompressed bytes)
BUNDLED_SHA256 = {
    "hwv": {
        "hwv.taxonomy": "98b129a124a81e11e03a9b39444f94256ef7ad51137fd4c107bf4fc8cb917fc9",
        "hwv_val.json.gz": "167a478252dd6ea5073ef3467dfaeb091227ccae11be4d0dc76977d550922a5e",
        "hwv_test.json.gz": "c0df0e52febd4d4dc734467e93bc45e39d92641491934417d71b5202a10f94ca",
    },
}


@dataclass
class HWV:
    """Dataset splits over one taxonomy; ``split`` says where train and dev came from.

    For HWV (:func:`load_hwv`): ``"official"`` or ``"val-split(seed=…)"``. For another folder
    (:func:`load_folder`): ``"files in DIR"`` or ``"val-split(seed=…) of DIR/FILE"``.
    """

    taxonomy: Taxonomy
    train: Corpus
    dev: Corpus
    test: Corpus
    split: str
    folder: Path


def bundled_dataset(name: str) -> Path:
    """The folder of a dataset that ships inside htc (``"hwv"``).

    >>> sorted(p.name for p in bundled_dataset("hwv").iterdir() if p.suffix != ".md")
    ['LICENSE', 'hwv.taxonomy', 'hwv_test.json.gz', 'hwv_val.json.gz']
    """
    if name not in BUNDLED_SHA256:
        raise ValueError(f"no bundled dataset {name!r}; htc ships: {', '.join(BUNDLED_SHA256)}")
    return BUNDLED / name


def verify_bundled(name: str = "hwv") -> dict[str, str]:
    """Check the bundled files of ``name`` against the released files' sha256 (a ``.gz`` file is
    checked decompressed); returns ``{file: sha256}``, raises ``ValueError`` naming a mismatch.

    >>> len(verify_bundled("hwv"))
    3
    """
    folder = bundled_dataset(name)
    found = {}
    for file, want in BUNDLED_SHA256[name].items():
        path = folder / file
        opener = gzip.open if path.suffix == ".gz" else open
        digest = hashlib.sha256()
        with opener(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):  # noqa: B023 (fh is this loop's)
                digest.update(block)
        found[file] = digest.hexdigest()
        if found[file] != want:
            raise ValueError(f"{path}: sha256 {found[file]} is not the released file's {want}")
    return found


def default_data_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where data is looked for, in order: the argument alone if given; else ``$HTC_DATA_DIR``
    (when set), then the datasets bundled with htc."""
    if data_dir is not None:
        return [Path(data_dir)]
    dirs = [Path(os.environ[ENV_VAR])] if os.environ.get(ENV_VAR) else []
    return dirs + [BUNDLED]


def find_dataset(name: str, required: list[str], data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding ``required`` files for dataset ``name`` (``DIR/name`` or ``DIR`` itself).

    A required ``X.json`` is also found compressed, as ``X.json.gz``.
    """
    tried = []
    for base in default_data_dirs(data_dir):
        for cand in (base / name, base):
            tried.append(str(cand))
            if all((cand / f).is_file() or (cand / f"{f}.gz").is_file() for f in required):
                return cand
    where = f"data_dir={data_dir}" if data_dir is not None else f"${ENV_VAR} and htc's bundled data"
    raise FileNotFoundError(
        f"dataset {name!r} not found in {where}: looked for {', '.join(required)} in "
        + "; ".join(tried)
    )


def load_hwv(
    data_dir: str | os.PathLike | None = None, *, seed: int = 0, dev_fraction: float = 0.2
) -> HWV:
    """Load Hierarchical WikiVitals.

    With no argument, reads ``$HTC_DATA_DIR/hwv`` when that folder exists, else the copy bundled
    with htc (validation and test splits, taxonomy). Uses the official ``hwv_train.json`` when
    present; otherwise splits the official validation file into train/dev (``dev_fraction`` of
    each top-level class goes to dev, seeded).

    >>> hwv = load_hwv(bundled_dataset("hwv"))
    >>> len(hwv.train), len(hwv.dev), len(hwv.test), len(hwv.taxonomy)
    (1280, 322, 2003, 1186)
    """
    folder = find_dataset("hwv", ["hwv.taxonomy", "hwv_val.json", "hwv_test.json"], data_dir)
    return load_folder(folder, seed=seed, dev_fraction=dev_fraction, official=True)


def _one(folder: Path, patterns: tuple[str, ...], what: str, required: bool = True) -> Path | None:
    found = sorted({p for pat in patterns for p in folder.glob(pat)})
    if len(found) > 1:
        raise FileNotFoundError(f"{folder}: several {what} files ({', '.join(p.name for p in found)})"
                                "; pass --train/--dev/--test explicitly")
    if not found and required:
        raise FileNotFoundError(f"{folder}: no {what} file (looked for {', '.join(patterns)})")
    return found[0] if found else None


def load_folder(
    folder: str | os.PathLike,
    *,
    seed: int = 0,
    dev_fraction: float = 0.2,
    official: bool = False,
) -> HWV:
    """A dataset folder: one ``*.taxonomy`` and JSONL ``*train*``, ``*val*``/``*dev*``, ``*test*``
    (``.json``/``.jsonl``, or gzip-compressed ``.json.gz``/``.jsonl.gz``).

    Without a train file, train and dev are a seeded, top-level-stratified split of the
    validation file (``dev_fraction`` to dev), as for HWV. ``split`` reads ``"files in DIR"``
    or ``"val-split(seed=…) of DIR/FILE"``; with ``official=True`` (the folder holds a published
    dataset's own files) it reads ``"official"`` or ``"val-split(seed=…)"``.

    >>> load_folder("my_data").split  # doctest: +SKIP
    'files in my_data'
    """
    if not 0 < dev_fraction < 1:
        raise ValueError(f"dev_fraction must be in (0, 1), got {dev_fraction}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    tax = Taxonomy.from_file(_one(folder, ("*.taxonomy",), "taxonomy"))
    exts = ("json", "jsonl", "json.gz", "jsonl.gz")
    train_f = _one(folder, tuple(f"*train*.{e}" for e in exts), "train", required=False)
    val_f = _one(folder, tuple(f"*{k}*.{e}" for k in ("val", "dev") for e in exts), "val/dev")
    test_f = _one(folder, tuple(f"*test*.{e}" for e in exts), "test")
    val = read_jsonl(val_f, tax)
    test = read_jsonl(test_f, tax)
    if train_f is not None:
        split = "official" if official else f"files in {folder}"
        return HWV(tax, read_jsonl(train_f, tax), val, test, split, folder)
    train_idx, dev_idx = stratified_split(val.y, tax, dev_fraction, seed)
    split = f"val-split(seed={seed})" + ("" if official else f" of {val_f}")
    return HWV(tax, val.subset(train_idx), val.subset(dev_idx), test, split, folder)


def stratified_split(
    y: sp.csr_matrix, taxonomy: Taxonomy, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split rows into (rest, held-out) with ``fraction`` of each top-level class held out.

    A document's class is its first top-level label (node order). Indices are sorted.
    """
    y = sp.csr_matrix(y)
    top = np.zeros(len(taxonomy), dtype=bool)
    top[taxonomy.root_children] = True
    first_top = np.full(y.shape[0], -1)
    for r in range(y.shape[0]):
        cols = y.indices[y.indptr[r] : y.indptr[r + 1]]
        cols = cols[top[cols]]
        if len(cols):
            first_top[r] = cols.min()
    rng = np.random.default_rng(seed)
    held = []
    for cls in np.unique(first_top):
        members = np.flatnonzero(first_top == cls)
        rng.shuffle(members)
        k = int(round(fraction * len(members)))
        held.append(members[:k])
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    mask = np.ones(y.shape[0], dtype=bool)
    mask[held_idx] = False
    return np.flatnonzero(mask), held_idx


# ---------------------------------------------------------------------------------- synthetic
def random_taxonomy(
    depth: int = 4,
    branching: int | tuple[int, int] = 3,
    *,
    dag: bool = False,
    extra_parent_prob: float = 0.2,
    seed: int | None = 0,
) -> Taxonomy:
    """A random hierarchy of ``depth`` levels.

    ``branching`` is a fixed number of children or an inclusive ``(low, high)`` range drawn per
    node (0 allowed in the range gives leaves at varying depths). With ``dag=True`` each node below
    level 2 gets, with probability ``extra_parent_prob``, a second parent from the level above.

    >>> random_taxonomy(2, 2).nodes
    ['n0', 'n1', 'n0.0', 'n0.1', 'n1.0', 'n1.1']
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    lo, hi = (branching, branching) if isinstance(branching, int) else branching
    if lo < 0 or hi < max(lo, 1):
        raise ValueError(f"branching must be >= 1 (or a range (low, high) with high >= 1): {branching}")
    rng = np.random.default_rng(seed)
    edges: list[tuple[str, str]] = []
    level = ["Root"]
    levels = []
    for d in range(depth):
        nxt = []
        for k, parent in enumerate(level):
            n_kids = int(rng.integers(lo, hi + 1))
            if d == 0 or (k == 0 and not nxt):
                n_kids = max(n_kids, 1)
            for c in range(n_kids):
                name = f"n{c}" if parent == "Root" else f"{parent}.{c}"
                edges.append((parent, name))
                nxt.append(name)
        if not nxt:
            break
        levels.append(nxt)
        level = nxt
    if dag:
        for d in range(1, len(levels)):
            for name in levels[d]:
                if rng.random() < extra_parent_prob:
                    own = name.rsplit(".", 1)[0]
                    cands = [p for p in levels[d - 1] if p != own]
                    if cands:
                        edges.append((cands[int(rng.integers(len(cands)))], name))
    return Taxonomy.from_edges(edges)


def sample_labels(
    taxonomy: Taxonomy,
    n_docs: int,
    *,
    multi_path: bool = False,
    max_paths: int = 3,
    mandatory_leaf: bool = True,
    seed: int | None = 0,
) -> sp.csr_matrix:
    """Ancestor-closed label indicators: each document ends at 1 node (or 1..max_paths nodes).

    End nodes are drawn with a Zipf-like skew (heavy-tailed, as in real HTC data); with
    ``mandatory_leaf=False`` they may be internal nodes.
    """
    rng = np.random.default_rng(seed)
    pool = taxonomy.leaves if mandatory_leaf else np.arange(len(taxonomy))
    weights = 1.0 / np.arange(1, len(pool) + 1) ** 0.8
    weights = weights[rng.permutation(len(pool))]
    weights /= weights.sum()
    n_paths = rng.integers(1, max_paths + 1, size=n_docs) if multi_path else np.ones(n_docs, int)
    rows = np.repeat(np.arange(n_docs), n_paths)
    cols = pool[rng.choice(len(pool), size=len(rows), p=weights)]
    y = sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)),
                      shape=(n_docs, len(taxonomy)))
    y.sum_duplicates()
    y.data[:] = 1
    return taxonomy.closure(y)


def sample_marginals(
    taxonomy: Taxonomy,
    y_true,
    *,
    sharpness: float = 2.0,
    noise: float = 1.0,
    mandatory_leaf: bool = True,
    seed: int | None = 0,
) -> np.ndarray:
    """Node marginals of a single-path model that is right more often when ``sharpness`` is high.

    A distribution ``q`` over end nodes (leaves, or all nodes) is a softmax of Gaussian noise plus
    ``sharpness`` on the true end nodes; marginals are ``p(m) = Σ_{n below or at m} q(n)``, so they
    are consistent (child ≤ parent) and siblings sum to at most their parent in a tree.
    """
    rng = np.random.default_rng(seed)
    y = sp.csr_matrix(y_true).astype(bool)
    n_docs = y.shape[0]
    logits = noise * rng.standard_normal((n_docs, len(taxonomy)))
    # True end nodes: true nodes with no true child.
    has_true_child = (y.astype(np.int32) @ taxonomy.parent_matrix).toarray() > 0
    ends = y.toarray() & ~has_true_child
    logits += sharpness * ends
    if mandatory_leaf:
        logits[:, ~taxonomy.is_leaf] = -np.inf
    logits -= logits.max(axis=1, keepdims=True)
    q = np.exp(logits)
    q /= q.sum(axis=1, keepdims=True)
    return np.ascontiguousarray((taxonomy.descendant_matrix.astype(np.float64) @ q.T).T)


def make_synthetic(
    n_docs: int,
    *,
    depth: int = 4,
    branching: int | tuple[int, int] = 3,
    dag: bool = False,
    multi_path: bool = False,
    mandatory_leaf: bool = True,
    seed: int | None = 0,
) -> tuple[Taxonomy, sp.csr_matrix]:
    """A random taxonomy and ``n_docs`` ancestor-closed label sets on it."""
    tax = random_taxonomy(depth, branching, dag=dag, seed=seed)
    y = sample_labels(tax, n_docs, multi_path=multi_path, mandatory_leaf=mandatory_leaf, seed=seed)
    return tax, y


@dataclass
class ConditionalSigmoidModel:
    """A linear conditional-sigmoid generator of multi-path label sets over a tree.

    Documents have features ``x ~ N(0, I)``; node ``n`` is present, given its parent, with
    probability ``c_n(x) = σ(x·W_n + b_n)``, independently of its siblings (top-level nodes given
    the root). ``W_n`` has norm ``signal`` (so logits have standard deviation ``signal``) and
    ``b_n`` is set so that the mean of ``c_n`` is ``top_paths / (number of top-level nodes)`` at
    the top level and ``branch_paths / (number of siblings)`` below: documents carry about
    ``top_paths`` top-level labels and ``branch_paths`` children under each present node. ``sample``
    returns the features, the labels drawn from the model, and the model's own node marginals
    (products of the conditionals along the path), which are calibrated by construction.

    >>> gen = ConditionalSigmoidModel.random(random_taxonomy(3, 3, seed=0), seed=0)
    >>> x, y, p = gen.sample(100, seed=1)
    >>> x.shape, y.shape, bool(((p >= 0) & (p <= 1)).all())
    ((100, 16), (100, 39), True)
    """

    taxonomy: Taxonomy
    weights: np.ndarray  # (dim, nodes)
    bias: np.ndarray  # (nodes,)

    @classmethod
    def random(cls, taxonomy: Taxonomy, *, dim: int = 16, signal: float = 3.0,
               top_paths: float = 1.6, branch_paths: float = 1.4,
               seed: int | None = 0) -> ConditionalSigmoidModel:
        if not taxonomy.is_tree:
            raise ValueError("ConditionalSigmoidModel needs a tree taxonomy")
        if dim < 1 or signal < 0 or top_paths <= 0 or branch_paths <= 0:
            raise ValueError("dim must be >= 1, signal >= 0, top_paths and branch_paths > 0")
        rng = np.random.default_rng(seed)
        w = rng.standard_normal((dim, len(taxonomy)))
        w *= signal / np.linalg.norm(w, axis=0, keepdims=True)
        rate = np.empty(len(taxonomy))
        rate[taxonomy.root_children] = top_paths / len(taxonomy.root_children)
        for u in range(len(taxonomy)):
            kids = taxonomy.children(u)
            if len(kids):
                rate[kids] = branch_paths / len(kids)
        rate = np.clip(rate, 1e-3, 0.9)
        # b with E_z[σ(signal·z + b)] = rate, z ~ N(0, 1): bisection on normal quantiles
        from scipy.special import expit, ndtri

        z = signal * ndtri((np.arange(400) + 0.5) / 400)
        lo, hi = np.full(len(rate), -40.0), np.full(len(rate), 40.0)
        for _ in range(60):
            mid = (lo + hi) / 2
            low = expit(z[:, None] + mid[None, :]).mean(axis=0) < rate
            lo, hi = np.where(low, mid, lo), np.where(low, hi, mid)
        return cls(taxonomy, w, (lo + hi) / 2)

    def conditionals(self, x: np.ndarray) -> np.ndarray:
        """``c_n(x)``: probability of each node given its parent, ``(documents, nodes)``."""
        from scipy.special import expit

        return expit(np.asarray(x) @ self.weights + self.bias)

    def sample(self, n_docs: int, *, seed: int | None = 0
               ) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
        """``(x, y, marginals)`` for ``n_docs`` documents drawn from the model."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n_docs, self.weights.shape[0]))
        cond = self.conditionals(x)
        u = rng.random(cond.shape)
        y = np.zeros(cond.shape, dtype=bool)
        p = np.zeros(cond.shape)
        for i in self.taxonomy.topological_order:
            par = self.taxonomy.parents(i)
            above_y = y[:, par[0]] if len(par) else True
            above_p = p[:, par[0]] if len(par) else 1.0
            y[:, i] = above_y & (u[:, i] < cond[:, i])
            p[:, i] = above_p * cond[:, i]
        return x, sp.csr_matrix(y.astype(np.int8)), p
