import json

import numpy as np
from typer.testing import CliRunner

from htc.cli import app

runner = CliRunner()


def setup(tmp_path):
    tax = tmp_path / "t.taxonomy"
    tax.write_text("Root\tA\tB\nA\tA1\tA2\n")
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps({"token": ["x"], "label": lab})
                              for lab in (["A", "A1"], ["B"], ["A", "A2"])) + "\n")
    return tax, gold


def test_evaluate_pred_and_proba(tmp_path):
    tax, gold = setup(tmp_path)
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["evaluate", "-t", str(tax), "--gold", str(gold), "--pred", str(gold),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    figures = json.loads(out.read_text())["metrics"]
    assert figures["h_micro_f"] == 1.0 and figures["flat_macro_f"] == 1.0
    proba = tmp_path / "p.npy"
    # nodes: A, B, A1, A2
    np.save(proba, np.array([[.9, .1, .8, .1], [.2, .8, .1, .1], [.7, .3, .4, .3]]))
    for decoder in ("top_down", "optimal_hf", "argmax_leaf"):
        res = runner.invoke(app, ["evaluate", "-t", str(tax), "--gold", str(gold), "--proba",
                                  str(proba), "--decoder", decoder, "--out", str(out)])
        assert res.exit_code == 0, res.output
        assert "hF1-AUC" in res.output
    assert json.loads(out.read_text())["meta"]["decoder"] == "argmax_leaf"


def test_evaluate_errors_are_one_line(tmp_path):
    tax, gold = setup(tmp_path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"token": ["x"], "label": ["A"]}\n{"token": ["x"], "label": ["Nope"]}\n')
    res = runner.invoke(app, ["evaluate", "-t", str(tax), "--gold", str(gold), "--pred", str(bad)])
    assert res.exit_code == 2 and f"{bad}:2:" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["evaluate", "-t", str(tax), "--gold", str(gold)])
    assert res.exit_code == 2 and "exactly one of --pred and --proba" in res.output
    proba = tmp_path / "p.npy"
    np.save(proba, np.zeros((2, 4)))
    res = runner.invoke(app, ["evaluate", "-t", str(tax), "--gold", str(gold), "--proba", str(proba)])
    assert res.exit_code == 2 and "shape (2, 4)" in res.output
    res = runner.invoke(app, ["evaluate", "-t", str(tmp_path / "none.taxonomy"), "--gold", str(gold),
                              "--pred", str(gold)])
    assert res.exit_code == 2 and "not found" in res.output


def test_evaluate_refuses_empty_files(tmp_path):
    tax, gold = setup(tmp_path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "r.json"
    res = runner.invoke(app, ["evaluate", "-t", str(tax), "--gold", str(empty), "--pred",
                              str(empty), "--out", str(out)])
    assert res.exit_code == 2 and f"{empty}: no documents" in res.output, res.output
    assert "nan" not in res.output and not out.exists()
    res = runner.invoke(app, ["evaluate", "-t", str(tax), "--gold", str(gold), "--pred",
                              str(empty), "--out", str(out)])
    assert res.exit_code == 2 and f"{empty}: 0 documents but {gold} has 3" in res.output
    assert not out.exists()


def test_stats(tmp_path):
    tax, gold = setup(tmp_path)
    res = runner.invoke(app, ["stats", "-t", str(tax), str(gold)])
    assert res.exit_code == 0, res.output
    assert "documents" in res.output and "2:2" in res.output


def test_train_predict_evaluate_agree(tmp_path):
    from htc.data import write_jsonl
    from tests.htc.test_training import synthetic_corpus

    tax, train = synthetic_corpus(48, seed=1)
    _, val = synthetic_corpus(30, seed=2)
    _, test = synthetic_corpus(20, seed=3)
    data = tmp_path / "data"
    data.mkdir()
    tax.to_file(data / "toy.taxonomy")
    for name, corpus in (("toy_train.json", train), ("toy_val.json", val), ("toy_test.json", test)):
        write_jsonl(data / name, corpus.texts, corpus.y, tax)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"epochs": 3, "batch_size": 8, "hidden": 32, "tfidf_svd": 16}))
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--data", str(data), "--loss", "leaf_softmax", "--config",
                              str(cfg), "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "result.json").read_text())
    assert result["split"] == f"files in {data}" and result["config"]["loss"] == "leaf_softmax"
    assert "split: files in" in res.output  # the user's own files, not HWV's official split
    res = runner.invoke(app, ["predict", "--model", str(out / "model"), "-i",
                              str(data / "toy_test.json"), "--out", str(out / "pred")])
    assert res.exit_code == 0, res.output
    assert np.allclose(np.load(out / "pred" / "pred_proba.npy"), np.load(out / "test_proba.npy"))
    plain = (out / "test_proba.npy").stat().st_mode  # np.save: an ordinary new file
    for f in ("result.json", "test_pred.jsonl", "pred/pred_pred.jsonl", "pred/pred_proba.npy"):
        assert (out / f).stat().st_mode == plain, f  # atomic writes follow the umask too
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    res = runner.invoke(app, ["predict", "--model", str(out / "model"), "-i", str(empty),
                              "--out", str(out / "pred_empty")])
    assert res.exit_code == 2 and f"{empty}: no documents" in res.output, res.output
    assert "Traceback" not in res.output and not (out / "pred_empty").exists()
    res = runner.invoke(app, ["evaluate", "-t", str(data / "toy.taxonomy"), "--gold",
                              str(data / "toy_test.json"), "--pred",
                              str(out / "pred" / "pred_pred.jsonl"), "--out", str(out / "ev.json")])
    assert res.exit_code == 0, res.output
    ev = json.loads((out / "ev.json").read_text())["metrics"]
    assert ev["h_micro_f"] == result["test"]["h_micro_f"]


def test_train_bad_arguments(tmp_path):
    res = runner.invoke(app, ["train", "--loss", "hinge", "--data", str(tmp_path)])
    assert res.exit_code == 2 and "loss must be one of" in res.output
    res = runner.invoke(app, ["train", "--data", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "not a folder" in res.output
    res = runner.invoke(app, ["predict", "--model", str(tmp_path), "-i", "x.jsonl", "--out",
                              str(tmp_path / "o")])
    assert res.exit_code == 2 and "not a saved htc model" in res.output


def test_train_multi_path_option(tmp_path):
    from tests.htc.test_training import multi_path_files

    tax, train, dev = multi_path_files(tmp_path)
    tax_f = tmp_path / "toy.taxonomy"
    tax.to_file(tax_f)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"epochs": 2, "batch_size": 8, "hidden": 32, "tfidf_svd": 16}))
    base = ["train", "-t", str(tax_f), "--train", str(train), "--dev", str(dev), "--config",
            str(cfg)]
    res = runner.invoke(app, [*base, "--multi-path", "error", "--out", str(tmp_path / "e")])
    assert res.exit_code == 2 and f"{train}:" in res.output, res.output
    assert "several paths" in res.output and "--multi-path split|first|drop" in res.output
    assert "Traceback" not in res.output
    for option in ("split", "first", "drop"):
        out = tmp_path / option
        res = runner.invoke(app, [*base, "--multi-path", option, "--out", str(out)])
        assert res.exit_code == 0, res.output
        result = json.loads((out / "result.json").read_text())
        assert result["config"]["multi_path"] == option and result["multi_path_docs"] > 0
    res = runner.invoke(app, [*base, "--multi-path", "keep", "--out", str(tmp_path / "k")])
    assert res.exit_code == 2 and "multi_path must be one of" in res.output
