"""The right model, score and decoder for multi-path data: the softmax-on-multi-path warning,
model selection that a softmax's split marginals can reach, ``optimal`` saying what it resolved to,
the sparse estimator, and the Debtags corpus reader."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from rich.console import Console
from typer.testing import CliRunner

from htc import Taxonomy
from htc.data import Corpus, write_jsonl
from htc.debtags import load_debtags, parse_packages
from htc.decoding import decode, resolve_optimal
from htc.decoding.tuning import selection_score

TAX = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B", "B1"], ["B", "B2"]])
WORDS = {"A1": "apple", "A2": "apricot", "B1": "banana", "B2": "blueberry"}


def two_path_corpus(n: int, seed: int = 0, share: float = 1.0):
    """Documents naming one or two end labels; ``share`` of them name two (two paths)."""
    rng = np.random.default_rng(seed)
    ends, texts = [], []
    for _ in range(n):
        k = 2 if rng.random() < share else 1
        labs = list(rng.choice(list(WORDS), size=k, replace=False))
        ends.append(labs)
        texts.append(" ".join(WORDS[lab] for lab in labs))
    return texts, ends


def test_selection_score_reaches_split_marginals_where_top_down_half_never_fires():
    texts, ends = two_path_corpus(40, share=1.0)
    y = TAX.indicator(ends)
    # what a softmax split over two positive children gives: 0.5 - ε on each, never ≥ 0.5
    proba = y.toarray() * 0.45
    assert decode(proba, TAX, "top_down", threshold=0.5).sum() == 0  # the paper's score: 0
    assert selection_score(proba, y, TAX, "top_down") == pytest.approx(1.0)
    assert selection_score(proba, y, TAX, "optimal_hf_multi") > 0.5


def test_estimator_warns_once_for_a_softmax_on_multi_path_data_and_auto_does_not():
    pytest.importorskip("torch")
    from sklearn.feature_extraction.text import TfidfVectorizer

    from htc.estimator import HierarchicalClassifier
    from htc.training.multipath import MultiPathLossWarning

    texts, ends = two_path_corpus(40, share=0.5)
    x = TfidfVectorizer().fit_transform(texts)
    params = dict(epochs=2, hidden=8, batch_size=8, random_state=0)
    with pytest.warns(MultiPathLossWarning) as record:
        clf = HierarchicalClassifier(TAX, loss="conditional_softmax", **params).fit(x, ends)
    hits = [w for w in record if issubclass(w.category, MultiPathLossWarning)]
    assert len(hits) == 1
    msg = str(hits[0].message)
    n_multi = sum(len(e) == 2 for e in ends)
    assert f"{n_multi} of 40 training documents ({n_multi / 40:.0%})" in msg
    assert "conditional_sigmoid" in msg and "bce" in msg
    assert clf.loss_ == "conditional_softmax"
    with warnings.catch_warnings():
        warnings.simplefilter("error", MultiPathLossWarning)
        auto = HierarchicalClassifier(TAX, loss="auto", **params).fit(x, ends)
    assert auto.loss_ == "conditional_sigmoid"


def test_trainer_selects_on_per_document_hf1_for_multi_path_data():
    pytest.importorskip("torch")
    from htc.training import TrainConfig, Trainer
    from htc.training.multipath import MultiPathLossWarning

    texts, ends = two_path_corpus(64, share=1.0)
    train = Corpus(texts, TAX.indicator(ends))
    dev = Corpus(*[[t for t in texts[:24]], TAX.indicator(ends[:24])])
    cfg = TrainConfig(loss="conditional_softmax", encoder="tfidf", tfidf_svd=0, epochs=3,
                      batch_size=8, hidden=16, lr_head=1e-2, patience=10, device="cpu")
    trainer = Trainer(cfg, TAX, progress=False)
    with pytest.warns(MultiPathLossWarning):
        summary = trainer.fit(train, dev)
    # every document has two paths: the split softmax keeps each child near 0.5 or below, and the
    # paper's top-down-0.5 score cannot rank the epochs; the per-document hF1 at a tuned threshold can
    assert summary["selection"] == "h_samples_f" and "best_dev_h_micro_f" not in summary
    assert summary["best_dev_score"] > 0.5
    assert all("dev_selection" in h for h in trainer.history)
    assert trainer.split_loss == "conditional_softmax"
    single = Trainer(TrainConfig(**{**cfg.to_dict(), "loss": "conditional_sigmoid"}), TAX,
                     progress=False)
    assert single.fit(train, dev)["selection"] == "h_samples_f"  # multi-path data, any loss
    one_path = Corpus(texts, TAX.indicator([e[:1] for e in ends]))
    summary = Trainer(cfg, TAX, progress=False).fit(one_path, one_path)
    assert summary["selection"] == "h_micro_f"  # single-path data: the paper's recipe
    assert summary["best_dev_h_micro_f"] == summary["best_dev_score"]


def test_resolve_optimal_names_the_decoder_and_the_split_softmax():
    proba = np.array([[0.9, 0.8, 0.7, 0.1, 0.05, 0.05]])
    tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B", "B1"], ["B", "B2"]])
    res = resolve_optimal(np.array([[0.9, 0.8, 0.7, 0.1, 0.05, 0.05]]), tax)
    assert res["resolved"] == "optimal_hf_multi" and res["reason"].startswith("multi-path")
    single = resolve_optimal(np.array([[0.9, 0.45, 0.45, 0.1, 0.05, 0.05]]), tax,
                             split_loss="conditional_softmax")
    assert single["resolved"] == "optimal_hf"
    assert "cannot express several paths" in single["reason"]
    assert "conditional_softmax" in single["reason"]
    assert decode(proba, tax, "optimal").tolist() == decode(proba, tax, "optimal_hf_multi").tolist()


def test_evaluate_writes_the_resolved_decoder_into_its_json(tmp_path):
    from htc.cli import app

    tax_file, gold = tmp_path / "toy.taxonomy", tmp_path / "gold.jsonl"
    TAX.to_file(tax_file)
    texts, ends = two_path_corpus(12, share=1.0)
    y = TAX.indicator(ends)
    write_jsonl(gold, texts, y, TAX)
    proba = np.clip(y.toarray() * 0.9 + 0.05, 0, 1)
    np.save(tmp_path / "proba.npy", proba)
    out = tmp_path / "figures.json"
    res = CliRunner().invoke(app, ["evaluate", "-t", str(tax_file), "--gold", str(gold), "--proba",
                                   str(tmp_path / "proba.npy"), "--decoder", "optimal", "--json",
                                   str(out)])
    assert res.exit_code == 0, res.output
    assert "decoder optimal → optimal_hf_multi (multi-path marginals" in res.output
    meta = json.loads(out.read_text())["meta"]
    assert meta["decoder_resolved"]["requested"] == "optimal"
    assert meta["decoder_resolved"]["resolved"] == "optimal_hf_multi"
    assert meta["decoder_resolved"]["multi_path_share"] == 1.0
    res = CliRunner().invoke(app, ["evaluate", "-t", str(tax_file), "--gold", str(gold), "--proba",
                                   str(tmp_path / "proba.npy"), "--decoder", "top_down", "--json",
                                   str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["meta"]["decoder_resolved"] == {"requested": "top_down",
                                                                       "resolved": "top_down"}


def test_estimator_trains_on_wide_sparse_input_without_densifying(monkeypatch):
    """1,000,000 columns: one dense batch of 16 rows would take 64 MB (float32); NumPy allocates
    far less than that during the fit, and no sparse matrix is densified."""
    pytest.importorskip("torch")
    from htc.estimator import HierarchicalClassifier
    from htc.training.sparse import SparseHead

    rng = np.random.default_rng(0)
    n, width = 120, 1_000_000
    _, ends = two_path_corpus(n, share=0.5)
    rows = np.repeat(np.arange(n), 5)
    x = sp.csr_matrix((rng.random(5 * n).astype(np.float32) + 0.1,
                       (rows, rng.integers(0, width, 5 * n))), shape=(n, width))

    for cls in (sp.csr_matrix, sp.csr_array, sp.coo_matrix, sp.csc_matrix):
        def refuse(self, *args, _toarray=cls.toarray, **kwargs):
            if self.shape[1] >= width:  # the targets (one column per label) may be densified
                raise AssertionError(f"densified a {self.shape} sparse matrix")
            return _toarray(self, *args, **kwargs)

        monkeypatch.setattr(cls, "toarray", refuse)
    import torch

    threads = torch.get_num_threads()
    tracemalloc.start()
    try:
        clf = HierarchicalClassifier(TAX, epochs=2, hidden=4, batch_size=16,
                                     random_state=0).fit(x, ends)
        proba = clf.predict_proba(x[:10])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert torch.get_num_threads() == threads  # the one-thread steps leave torch's count as it was
    assert isinstance(clf.head_, SparseHead)
    assert proba.shape == (10, len(TAX))
    assert peak < 32 * 2**20, f"NumPy peak {peak / 2**20:.0f} MB"


PACKAGES = """Package: vim
Version: 2:9.0
Description: Vi IMproved - enhanced vi editor
Tag: devel::editor, implemented-in::c, interface::commandline,
 role::program, use::editing

Package: untagged
Description: no tags here

Package: python3-numpy
Description: Fast array facility to the Python 3 language
Tag: devel::lang:python, devel::library, implemented-in::c, role::shared-lib

Package: vim
Description: a second record of the same package is ignored
Tag: game::toys
"""


def test_debtags_reader_on_a_packages_file(tmp_path):
    parsed = parse_packages(PACKAGES)
    assert list(parsed) == ["vim", "python3-numpy"]
    assert parsed["vim"][1] == ["devel::editor", "implemented-in::c", "interface::commandline",
                                "role::program", "use::editing"]
    path = tmp_path / "Packages.gz"
    path.write_bytes(gzip.compress(PACKAGES.encode()))
    corpus = load_debtags([path])
    assert corpus.names == ["python3-numpy", "vim"]
    assert corpus.texts[1] == "Vi IMproved - enhanced vi editor"
    assert corpus.taxonomy.parents(corpus.taxonomy.index("devel::library")).tolist() == [
        corpus.taxonomy.index("devel")]
    summary = corpus.summary()
    assert summary["documents"] == 2 and summary["facets"] == 5
    assert summary["multi_path_share"] == 1.0
    assert corpus.taxonomy.labels_of(corpus.y[1]) == [sorted(
        ["devel", "devel::editor", "implemented-in", "implemented-in::c", "interface",
         "interface::commandline", "role", "role::program", "use", "use::editing"],
        key=corpus.taxonomy.nodes.index)]


def test_row_adam_matches_sparse_adam():
    torch = pytest.importorskip("torch")
    from htc.training.sparse import RowAdam

    gen = torch.Generator().manual_seed(0)
    a = torch.nn.Parameter(torch.randn(50, 6, generator=gen))
    b = torch.nn.Parameter(a.detach().clone())
    opt_a, opt_b = RowAdam([a], lr=0.01), torch.optim.SparseAdam([b], lr=0.01)
    for _ in range(5):
        rows = torch.randint(0, 50, (12,), generator=gen)  # repeated rows: summed when coalesced
        values = torch.randn(12, 6, generator=gen)
        for p in (a, b):
            p.grad = torch.sparse_coo_tensor(rows[None], values, p.shape)
        opt_a.step()
        opt_b.step()
    torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-5, atol=1e-6)


def test_train_writes_the_resolved_decoder_and_the_split_softmax_into_result_json(tmp_path):
    pytest.importorskip("torch")
    from htc.cli import app

    tax_file = tmp_path / "toy.taxonomy"
    TAX.to_file(tax_file)
    files = {}
    for name, n, seed in (("train", 64, 0), ("dev", 24, 1), ("test", 24, 2)):
        texts, ends = two_path_corpus(n, seed=seed, share=0.8)
        files[name] = tmp_path / f"{name}.jsonl"
        write_jsonl(files[name], texts, TAX.indicator(ends), TAX)
    out = tmp_path / "run"
    res = CliRunner().invoke(app, [
        "train", "-t", str(tax_file), "--train", str(files["train"]), "--dev", str(files["dev"]),
        "--test", str(files["test"]), "--loss", "conditional_softmax", "--decoder", "optimal",
        "--epochs", "2", "--batch-size", "8", "--hidden", "16", "--tfidf-svd", "0",
        "--device", "cpu", "--out", str(out)])
    assert res.exit_code == 0, res.output
    output = " ".join(res.output.split())
    assert "have several paths, but the conditional_softmax loss models one path" in output
    assert output.count("models one path per document") == 1  # said once, not also as a warning
    assert "decoder optimal →" in output
    result = json.loads((out / "result.json").read_text())
    assert result["selection"] == "h_samples_f"
    resolved = result["decoder_resolved"]
    assert resolved["requested"] == "optimal"
    assert resolved["resolved"] in ("optimal_hf", "optimal_hf_multi")
    assert "cannot express several paths" in resolved["reason"]


def test_train_loss_auto_picks_by_the_training_data():
    pytest.importorskip("torch")
    from htc.training import TrainConfig, Trainer
    from htc.training.multipath import MultiPathLossWarning

    texts, ends = two_path_corpus(48, share=0.5)
    multi = Corpus(texts, TAX.indicator(ends))
    single = Corpus(texts, TAX.indicator([e[:1] for e in ends]))
    cfg = dict(loss="auto", encoder="tfidf", tfidf_svd=0, epochs=1, batch_size=8, hidden=8,
               device="cpu")
    console = Console(file=io.StringIO(), width=300)
    trainer = Trainer(TrainConfig(**cfg), TAX, console=console, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MultiPathLossWarning)  # auto never picks a softmax here
        trainer.fit(multi, multi)
    n_multi = sum(len(e) == 2 for e in ends)
    assert trainer.config.loss == "conditional_sigmoid"
    assert (f"--loss auto: conditional_sigmoid ({n_multi} of 48 training documents have several "
            "paths)") in console.file.getvalue()
    trainer = Trainer(TrainConfig(**cfg), TAX, progress=False)
    trainer.fit(single, single)
    assert trainer.config.loss == "conditional_softmax_la"
    with pytest.raises(ValueError, match="loss must be one of"):
        TrainConfig(loss="softmax")
