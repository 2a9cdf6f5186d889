import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings

from htc import Taxonomy, TaxonomyError

from .conftest import taxonomies
from .reference import anc_self


def write(tmp_path, text, name="t.taxonomy"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_from_file_tree(tmp_path):
    tax = Taxonomy.from_file(write(tmp_path, "Root\tA\tB\nA\tA1\tA2\n"))
    assert tax.nodes == ["A", "B", "A1", "A2"]
    assert tax.is_tree
    assert tax.depth.tolist() == [1, 1, 2, 2]
    assert tax.leaves_labels == ["B", "A1", "A2"]
    assert tax.children(tax.index("A")).tolist() == [2, 3]
    assert tax.parents(tax.index("A1")).tolist() == [0]
    assert tax.parents(0).tolist() == []
    assert tax.ancestors(tax.index("A2")).tolist() == [0]
    assert tax.descendants(0).tolist() == [2, 3]
    assert "A1" in tax and "Z" not in tax


def test_from_file_strips_spaces_around_labels(tmp_path):
    plain = Taxonomy.from_file(write(tmp_path, "Root\tA\tB\nA\tA1\tA2\n", name="plain"))
    spaced = Taxonomy.from_file(write(tmp_path, "Root \tA\t B\nA  \tA1 \tA2\r\n"))
    assert spaced.nodes == plain.nodes == ["A", "B", "A1", "A2"]  # no new label "A "
    assert spaced.is_tree and spaced.depth.tolist() == [1, 1, 2, 2]


def test_dag(tmp_path):
    tax = Taxonomy.from_file(write(tmp_path, "Root\tA\tB\nA\tC\nB\tC\tD\nD\tE\nC\tE\n"))
    assert not tax.is_tree
    c = tax.index("C")
    assert sorted(tax.parents(c).tolist()) == [tax.index("A"), tax.index("B")]
    e = tax.index("E")
    assert tax.depth[e] == 3  # longest path Root-B-D-E
    assert set(tax.ancestors(e).tolist()) == set(tax.indices(["A", "B", "C", "D"]).tolist())
    paths = sorted(tuple(tax.nodes[i] for i in p) for p in tax.paths(e))
    assert paths == [("A", "C", "E"), ("B", "C", "E"), ("B", "D", "E")]


def test_roundtrip(tmp_path):
    src = write(tmp_path, "Root\tA\tB\nA\tA1\tA2\nB\tA1\n")
    tax = Taxonomy.from_file(src)
    out = tmp_path / "out.taxonomy"
    tax.to_file(out)
    again = Taxonomy.from_file(out)
    assert again.nodes == tax.nodes
    assert (again.ancestor_matrix != tax.ancestor_matrix).nnz == 0


@given(taxonomies(max_nodes=12))
@settings(max_examples=40, deadline=None)
def test_to_file_keeps_node_order(tmp_path_factory, tax):
    out = tmp_path_factory.mktemp("t") / "out.taxonomy"
    tax.to_file(out)
    again = Taxonomy.from_file(out)
    assert again.nodes == tax.nodes
    assert (again.ancestor_matrix != tax.ancestor_matrix).nnz == 0


def test_hwv_to_file_keeps_node_order(tmp_path, hwv_path):
    tax = Taxonomy.from_file(hwv_path / "hwv.taxonomy")
    tax.to_file(tmp_path / "copy.taxonomy")
    assert Taxonomy.from_file(tmp_path / "copy.taxonomy").nodes == tax.nodes


def test_from_paths_and_edges_agree():
    a = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    b = Taxonomy.from_edges([("Root", "A"), ("A", "A1"), ("A", "A2"), ("Root", "B")])
    assert a.nodes == b.nodes
    assert (a.ancestor_matrix != b.ancestor_matrix).nnz == 0


@given(taxonomies(max_nodes=12))
@settings(max_examples=60, deadline=None)
def test_ancestry_matches_reference(tax):
    a = tax.ancestor_matrix.toarray()
    for i in range(len(tax)):
        assert set(np.flatnonzero(a[i])) == anc_self(tax, i)
        for p in tax.parents(i):
            assert tax.depth[i] > tax.depth[p]
    order = {int(u): k for k, u in enumerate(tax.topological_order)}
    assert len(order) == len(tax)
    for i in range(len(tax)):
        assert all(order[int(p)] < order[i] for p in tax.parents(i))


@given(taxonomies(max_nodes=10))
@settings(max_examples=40, deadline=None)
def test_closure_dense_and_sparse(tax):
    rng = np.random.default_rng(len(tax))
    y = (rng.random((4, len(tax))) < 0.3).astype(np.int8)
    closed = tax.closure(y)
    for row, crow in zip(y, closed):
        want = set()
        for j in np.flatnonzero(row):
            want |= anc_self(tax, int(j))
        assert set(np.flatnonzero(crow)) == want
    assert (tax.closure(sp.csr_matrix(y)).toarray() == closed).all()
    assert tax.is_consistent(closed).all()
    assert (tax.is_consistent(y) == (closed == y).all(axis=1)).all()


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("Root\tA\nA\tB\nB\tA\n", 3, "cycle"),
        ("Root\tA\nA\tA\n", 2, "self-loop"),
        ("Root\tA\nA\tB\tB\n", 2, "listed twice"),
        ("Root\tA\nA\tB\nA\tB\n", 3, "listed twice"),
        ("Root\tA\nX\tY\n", 2, "unreachable"),
        ("Root\tA\nA\t\tB\n", 2, "empty label"),
        ("Root\tA\nA\t  \tB\n", 2, "spaces only"),
        ("Root\tA\tA \n", 1, "twice under parent 'root' once surrounding spaces are removed"),
        ("Root\tA\nA\tB\nA \tB\n", 3, "('b' under 'a ' here, 'b' under 'a' at line 2)"),
        ("Root\tA\nA\t A\n", 2, "same label once surrounding spaces are removed: a self-loop"),
        ("Root\tA\nA\n", 2, "no child"),
        ("A\tB\n", 1, "root"),
        ("Root\tA\nA\tRoot\n", 2, "root"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path, text, line, fragment):
    p = write(tmp_path, text)
    with pytest.raises(TaxonomyError) as err:
        Taxonomy.from_file(p)
    assert err.value.line == line
    assert str(p) in str(err.value) and f":{line}:" in str(err.value)
    assert fragment in str(err.value).lower()


def test_cycle_names_labels(tmp_path):
    with pytest.raises(TaxonomyError) as err:
        Taxonomy.from_file(write(tmp_path, "Root\tA\nA\tB\nB\tC\nC\tA\n"))
    assert {"A", "B", "C"} <= set(err.value.labels)


def test_empty_file(tmp_path):
    for text in ("", "\n\n  \n"):
        with pytest.raises(TaxonomyError, match="empty"):
            Taxonomy.from_file(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(TaxonomyError, match="not found"):
        Taxonomy.from_file(tmp_path / "nope.taxonomy")


def test_bad_edges():
    with pytest.raises(TaxonomyError, match="edge 1"):
        Taxonomy.from_edges([("Root", "A"), ("A", "A")])
    with pytest.raises(TaxonomyError, match="pair"):
        Taxonomy.from_edges([("Root", "A", "B")])
    with pytest.raises(KeyError, match="'Z'"):
        Taxonomy.from_paths([["A"]]).index("Z")


def test_wrong_width_indicator():
    tax = Taxonomy.from_paths([["A", "A1"]])
    with pytest.raises(ValueError, match="one column per taxonomy node"):
        tax.closure(np.zeros((2, 5)))


def test_hwv_taxonomy(hwv_path):
    tax = Taxonomy.from_file(hwv_path / "hwv.taxonomy")
    assert len(tax) == 1186 and len(tax.leaves) == 953 and tax.max_depth == 6 and tax.is_tree
    assert [len(lv) for lv in tax.levels] == [11, 109, 381, 437, 244, 4]
