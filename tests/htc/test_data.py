import json
import os

import numpy as np
import pytest

from htc import DataError, Taxonomy, load_hwv, read_jsonl, write_jsonl
from htc.datasets import make_synthetic, random_taxonomy, sample_labels, sample_marginals
from htc.stats import dataset_statistics

TAX = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])


def lines(tmp_path, *rows, name="d.jsonl"):
    p = tmp_path / name
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return p


def test_read_closes_and_allows_multi_path(tmp_path):
    p = lines(tmp_path, {"token": ["a b"], "label": ["A1"]}, {"token": "c", "label": ["A2", "B"]})
    texts, y = read_jsonl(p, TAX)
    assert texts == ["a b", "c"]
    assert y.toarray().tolist() == [[1, 1, 0, 0], [1, 0, 1, 1]]


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("{not json", "invalid JSON"),
        (json.dumps({"label": ["A"]}), "missing key 'token'"),
        (json.dumps({"token": ["x"]}), "missing key 'label'"),
        (json.dumps({"token": ["x"], "label": ["Z"]}), "label 'Z' is not in the taxonomy"),
        (json.dumps({"token": ["x"], "label": []}), "empty"),
        (json.dumps([1, 2]), "JSON object"),
        (json.dumps({"token": [1], "label": ["A"]}), "list of strings"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, bad, fragment):
    p = lines(tmp_path, {"token": ["ok"], "label": ["A"]}, bad)
    with pytest.raises(DataError) as err:
        read_jsonl(p, TAX)
    assert err.value.line == 2 and f"{p}:2:" in str(err.value)
    assert fragment in str(err.value)


def test_skip_bad_lines_reports_count(tmp_path):
    p = lines(tmp_path, {"token": ["ok"], "label": ["A"]}, "{oops", {"token": ["x"], "label": ["Z"]},
              {"token": ["fine"], "label": ["B"]})
    with pytest.warns(UserWarning, match="skipped 2 bad line"):
        corpus = read_jsonl(p, TAX, skip_bad_lines=True)
    assert len(corpus) == 2 and corpus.n_skipped == 2 and corpus.skipped_lines == [2, 3]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_jsonl(tmp_path / "nope.jsonl", TAX)


def test_labels_match_without_surrounding_spaces(tmp_path):
    tax_file = tmp_path / "t.taxonomy"
    tax_file.write_text("Root\tA \nA\tA1 \tA2\nRoot\tB \n")  # spaces in the file
    tax = Taxonomy.from_file(tax_file)
    assert tax.nodes == TAX.nodes
    p = lines(tmp_path, {"token": "x", "label": ["A1"]}, {"token": "y", "label": [" A1 ", "B "]})
    for t in (tax, TAX):
        assert read_jsonl(p, t).y.toarray().tolist() == [[1, 1, 0, 0], [1, 1, 0, 1]]
    bad = lines(tmp_path, {"token": "x", "label": ["A1"]}, {"token": "y", "label": [" Z"]})
    with pytest.raises(DataError, match=f"{bad}:2: label ' Z' is not in the taxonomy"):
        read_jsonl(bad, tax)


def test_read_texts_refuses_a_file_without_documents(tmp_path):
    from htc.data import read_texts

    assert read_texts(lines(tmp_path, {"token": ["a", "b"]}, {"token": "c"})) == ["a b", "c"]
    for text in ("", "\n  \n"):
        empty = tmp_path / "empty.jsonl"
        empty.write_text(text)
        with pytest.raises(DataError, match=f"^{empty}: no documents"):
            read_texts(empty)


def test_write_roundtrip_and_atomic(tmp_path):
    y = TAX.indicator([["A1"], ["B", "A2"]])
    out = tmp_path / "out.jsonl"
    write_jsonl(out, ["t1", "t2"], y, TAX)
    again = read_jsonl(out, TAX)
    assert again.texts == ["t1", "t2"] and (again.y != y).nnz == 0
    assert json.loads(out.read_text().splitlines()[0])["label"] == ["A", "A1"]  # shallow → deep
    before = out.read_text()
    with pytest.raises(ValueError):
        write_jsonl(out, ["only one"], y, TAX)  # nothing already written is lost
    assert out.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_atomic_outputs_follow_the_umask(tmp_path, umask):
    import stat

    from htc.cli import write_json_atomic
    from htc.data import atomic_write

    def mode(p):
        return stat.S_IMODE(p.stat().st_mode)

    old = os.umask(umask)
    try:
        (tmp_path / "plain.txt").write_text("x")  # what the user expects of any new file
        write_jsonl(tmp_path / "pred.jsonl", None, TAX.indicator([["A1"]]), TAX)
        write_json_atomic(tmp_path / "result.json", {"a": 1})
        with atomic_write(tmp_path / "a.txt") as fh:
            fh.write("y")
    finally:
        os.umask(old)
    assert mode(tmp_path / "plain.txt") == 0o666 & ~umask
    for name in ("pred.jsonl", "result.json", "a.txt"):
        assert mode(tmp_path / name) == mode(tmp_path / "plain.txt"), name
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.txt", "plain.txt", "pred.jsonl", "result.json"]  # no temporary file left


def test_atomic_write_keeps_the_old_file_on_error(tmp_path):
    from htc.data import atomic_write

    out = tmp_path / "r.json"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(out) as fh:
        fh.write("half")
        raise RuntimeError("crash")
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_load_hwv_split(hwv_path):
    hwv = load_hwv(hwv_path.parent)
    assert hwv.split.startswith("val-split") or hwv.split == "official"
    assert len(hwv.test) == 2003 and len(hwv.train) + len(hwv.dev) == 1602
    assert 0.18 < len(hwv.dev) / 1602 < 0.22
    again = load_hwv(hwv_path)  # the hwv folder itself is accepted too
    assert again.dev.texts == hwv.dev.texts
    assert set(hwv.train.texts).isdisjoint(hwv.dev.texts)
    other = load_hwv(hwv_path, seed=1)
    assert other.dev.texts != hwv.dev.texts


def test_load_hwv_reads_the_bundled_copy_without_env(monkeypatch, tmp_path):
    from htc.datasets import BUNDLED

    monkeypatch.delenv("HTC_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # nothing beside the working directory
    hwv = load_hwv()
    assert hwv.folder == BUNDLED / "hwv" and hwv.split == "val-split(seed=0)"
    assert (len(hwv.train) + len(hwv.dev), len(hwv.test), len(hwv.taxonomy)) == (1602, 2003, 1186)
    monkeypatch.setenv("HTC_DATA_DIR", str(tmp_path))  # a data folder without hwv/: bundled copy
    assert load_hwv().folder == BUNDLED / "hwv"


def test_load_hwv_env_takes_precedence_and_errors_say_where_it_looked(tmp_path, monkeypatch):
    from tests.htc.test_reproduce import _folder as tiny_hwv_folder

    data = tiny_hwv_folder(tmp_path)
    monkeypatch.setenv("HTC_DATA_DIR", str(data))
    hwv = load_hwv()
    assert hwv.folder == data / "hwv" and len(hwv.taxonomy) == 6
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as err:
        load_hwv(empty)  # an explicit folder is the only place looked at
    assert str(empty) in str(err.value) and "data_dir" in str(err.value)


def test_bundled_hwv_is_the_released_files():
    from htc.datasets import BUNDLED_SHA256, verify_bundled

    assert verify_bundled("hwv") == BUNDLED_SHA256["hwv"]
    with pytest.raises(ValueError, match="no bundled dataset 'nope'"):
        verify_bundled("nope")


def test_gzip_files_read_like_plain_ones_and_damage_names_the_file(tmp_path):
    import gzip

    plain = tmp_path / "d.jsonl"
    write_jsonl(plain, ["t1", "t2"], TAX.indicator([["A1"], ["B"]]), TAX)
    packed = tmp_path / "d.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = read_jsonl(plain, TAX), read_jsonl(packed, TAX)
    assert a.texts == b.texts and (a.y != b.y).nnz == 0
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(packed.read_bytes()[:-12])
    with pytest.raises(DataError, match="cut.jsonl.gz"):
        read_jsonl(cut, TAX)
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"token": ["x"], "label": ["A1"]}\n\xff\xfe\n'))
    with pytest.raises(DataError, match=r"bad.jsonl.gz:2: not UTF-8"):
        read_jsonl(bad, TAX)


def test_load_hwv_prefers_official_train(tmp_path, hwv_path):
    import gzip

    folder = tmp_path / "hwv"
    folder.mkdir()
    for f in ("hwv.taxonomy", "hwv_val.json", "hwv_test.json"):
        src = hwv_path / f
        (folder / f).write_bytes(src.read_bytes() if src.is_file()
                                 else gzip.decompress((hwv_path / f"{f}.gz").read_bytes()))
    (folder / "hwv_train.json").write_text(
        json.dumps({"token": ["x"], "label": ["People"]}) + "\n")
    hwv = load_hwv(tmp_path)
    assert hwv.split == "official" and len(hwv.train) == 1 and len(hwv.dev) == 1602


def test_load_folder_split_says_what_was_used(tmp_path):
    from htc.datasets import load_folder

    TAX.to_file(tmp_path / "toy.taxonomy")
    docs = [{"token": [f"t{i}"], "label": [lab]} for i, lab in enumerate(["A1", "A2", "B"] * 4)]
    lines(tmp_path, *docs, name="toy_val.json")
    lines(tmp_path, *docs, name="toy_test.json")
    ds = load_folder(tmp_path, seed=3)
    assert ds.split == f"val-split(seed=3) of {tmp_path / 'toy_val.json'}"
    assert load_folder(tmp_path, seed=3, official=True).split == "val-split(seed=3)"
    lines(tmp_path, *docs, name="toy_train.json")
    ds = load_folder(tmp_path)
    assert ds.split == f"files in {tmp_path}" and len(ds.train) == 12
    assert load_folder(tmp_path, official=True).split == "official"


@pytest.mark.parametrize("dag", [False, True])
@pytest.mark.parametrize("multi", [False, True])
def test_synthetic(dag, multi):
    tax, y = make_synthetic(200, depth=4, branching=(1, 3), dag=dag, multi_path=multi, seed=0)
    assert tax.is_tree != dag or len(tax) < 4
    assert tax.is_consistent(y).all()
    stats = dataset_statistics(y, tax)
    assert (stats["multi_path_docs"] > 0) == multi
    assert stats["docs_ending_at_leaves"] == 1.0
    p = sample_marginals(tax, y, seed=0)
    assert ((p >= -1e-12) & (p <= 1 + 1e-12)).all()
    for c in range(len(tax)):
        for par in tax.parents(c):
            assert (p[:, c] <= p[:, par] + 1e-12).all()


def test_synthetic_non_mandatory_leaf():
    tax = random_taxonomy(4, 3, seed=1)
    y = sample_labels(tax, 300, mandatory_leaf=False, seed=1)
    assert dataset_statistics(y, tax)["docs_ending_at_leaves"] < 1.0


def test_random_taxonomy_bad_args():
    with pytest.raises(ValueError, match="depth"):
        random_taxonomy(0)
    with pytest.raises(ValueError, match="branching"):
        random_taxonomy(3, (0, 0))


def test_stratified_split_is_stratified(hwv_path):
    hwv = load_hwv(hwv_path.parent)
    tops = hwv.taxonomy.root_children
    share_train = np.asarray(hwv.train.y[:, tops].sum(0)).ravel() / len(hwv.train)
    share_dev = np.asarray(hwv.dev.y[:, tops].sum(0)).ravel() / len(hwv.dev)
    assert np.abs(share_train - share_dev).max() < 0.02
