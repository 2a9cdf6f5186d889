"""Shared fixtures and hypothesis strategies for htc tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

from htc import Taxonomy
from htc.datasets import bundled_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def hwv_path() -> Path:
    """The HWV folder that ships with htc (taxonomy, ``hwv_val.json.gz``, ``hwv_test.json.gz``)."""
    return bundled_dataset("hwv")


@st.composite
def taxonomies(draw, max_nodes: int = 9, dag: bool | None = None) -> Taxonomy:
    """Random trees (and DAGs when ``dag`` is True or drawn) with 1..max_nodes labels."""
    n = draw(st.integers(1, max_nodes))
    is_dag = draw(st.booleans()) if dag is None else dag
    edges = []
    for i in range(n):
        parent = draw(st.integers(-1, i - 1))
        edges.append(("Root" if parent < 0 else f"n{parent}", f"n{i}"))
        if is_dag and i >= 2 and draw(st.booleans()):
            extra = draw(st.integers(0, i - 1))
            if f"n{extra}" != edges[-1][0]:
                edges.append((f"n{extra}", f"n{i}"))
    return Taxonomy.from_edges(edges)


@st.composite
def indicator(draw, n_docs: int, n_nodes: int, nonempty: bool = False) -> np.ndarray:
    cells = draw(st.lists(st.booleans(), min_size=n_docs * n_nodes, max_size=n_docs * n_nodes))
    m = np.array(cells, dtype=np.int8).reshape(n_docs, n_nodes)
    if nonempty:
        for i in range(n_docs):
            if not m[i].any():
                m[i, draw(st.integers(0, n_nodes - 1))] = 1
    return m


@st.composite
def problems(draw, max_nodes: int = 9, max_docs: int = 5, dag: bool | None = None):
    """(taxonomy, closed multi-path truth, arbitrary prediction)."""
    tax = draw(taxonomies(max_nodes, dag))
    n_docs = draw(st.integers(1, max_docs))
    truth = tax.closure(draw(indicator(n_docs, len(tax), nonempty=True)))
    pred = draw(indicator(n_docs, len(tax)))
    return tax, truth, pred


@st.composite
def marginals(draw, tax: Taxonomy, n_docs: int) -> np.ndarray:
    """Node marginals of a distribution over end nodes (consistent, single-path)."""
    w = np.array(draw(st.lists(st.integers(0, 5), min_size=n_docs * len(tax),
                               max_size=n_docs * len(tax))), dtype=float).reshape(n_docs, len(tax))
    w[w.sum(axis=1) == 0, 0] = 1.0
    q = w / w.sum(axis=1, keepdims=True)
    return np.asarray((tax.descendant_matrix @ q.T).T)
