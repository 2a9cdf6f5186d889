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
                              "--json", str(out)])
    assert res.exit_code == 0, res.output
    figures = json.loads(out.read_text())["metrics"]
    assert figures["h_micro_f"] == 1.0 and figures["flat_macro_f"] == 1.0
    proba = tmp_path / "p.npy"
    # nodes: A, B, A1, A2
    np.save(proba, np.array([[.9, .1, .8, .1], [.2, .8, .1, .1], [.7, .3, .4, .3]]))
    for decoder in ("top_down", "optimal_hf", "argmax_leaf"):
        res = runner.invoke(app, ["evaluate", "-t", str(tax), "--gold", str(gold), "--proba",
                                  str(proba), "--decoder", decoder, "--json", str(out)])
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
                              str(empty), "--json", str(out)])
    assert res.exit_code == 2 and f"{empty}: no documents" in res.output, res.output
    assert "nan" not in res.output and not out.exists()
    res = runner.invoke(app, ["evaluate", "-t", str(tax), "--gold", str(gold), "--pred",
                              str(empty), "--json", str(out)])
    assert res.exit_code == 2 and f"{empty}: 0 documents but {gold} has 3" in res.output
    assert not out.exists()


def test_stats(tmp_path):
    tax, gold = setup(tmp_path)
    res = runner.invoke(app, ["stats", "-t", str(tax), str(gold)])
    assert res.exit_code == 0, res.output
    assert "documents" in res.output and "2:2" in res.output


def toy_folder(tmp_path, epochs=2, n_train=48, **config):
    """A learnable toy dataset folder and a fast training config (``config`` adds or replaces
    fields)."""
    from htc.data import write_jsonl
    from tests.htc.test_training import synthetic_corpus

    tax, train = synthetic_corpus(n_train, seed=1)
    _, val = synthetic_corpus(30, seed=2)
    _, test = synthetic_corpus(20, seed=3)
    data = tmp_path / "data"
    data.mkdir()
    tax.to_file(data / "toy.taxonomy")
    for name, corpus in (("toy_train.json", train), ("toy_val.json", val), ("toy_test.json", test)):
        write_jsonl(data / name, corpus.texts, corpus.y, tax)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"epochs": epochs, "batch_size": 8, "hidden": 32, "tfidf_svd": 16}
                              | config))
    return tax, val, data, cfg


def test_train_predict_evaluate_agree(tmp_path):
    _, _, data, cfg = toy_folder(tmp_path, epochs=3)
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
                              str(out / "pred" / "pred_pred.jsonl"), "--json", str(out / "ev.json")])
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
    assert res.exit_code == 2 and "--multi-path must be one of" in res.output


def tuning_files(tmp_path):
    """A taxonomy, dev (120) and test (80) gold files and model-like marginals for both."""
    from htc.data import write_jsonl
    from htc.datasets import make_synthetic, sample_marginals

    tax, y = make_synthetic(200, depth=3, branching=3, seed=0)
    proba = sample_marginals(tax, y, sharpness=1.5, seed=1)
    files = {"tax": tmp_path / "t.taxonomy", "dev": tmp_path / "dev.jsonl",
             "test": tmp_path / "test.jsonl", "dev_p": tmp_path / "dev.npy",
             "test_p": tmp_path / "test.npy"}
    tax.to_file(files["tax"])
    write_jsonl(files["dev"], None, y[:120], tax)
    write_jsonl(files["test"], None, y[120:], tax)
    np.save(files["dev_p"], proba[:120])
    np.save(files["test_p"], proba[120:])
    return tax, y[:120], proba[:120], y[120:], proba[120:], files


def evaluate_args(f, *extra):
    return ["evaluate", "-t", str(f["tax"]), "--gold", str(f["test"]), "--proba",
            str(f["test_p"]), "--tune-on", str(f["dev"]), "--tune-proba", str(f["dev_p"]), *extra]


def test_evaluate_tune_threshold_picks_the_dev_best_and_decodes_test_with_it(tmp_path):
    from htc.decoding import decode, tune_threshold
    from htc.metrics import report

    tax, y_dev, p_dev, y_test, p_test, f = tuning_files(tmp_path)
    out = tmp_path / "r.json"
    for decoder, metric in (("top_down", "h_micro_f"), ("threshold", "h_leaf_f")):
        res = runner.invoke(app, evaluate_args(f, "--decoder", decoder, "--metric", metric,
                                               "--json", str(out)))
        assert res.exit_code == 0, res.output
        best = tune_threshold(p_dev, y_dev, tax, metric=metric, method=decoder)
        assert best.threshold != 0.5  # the test would not tell tuned from default otherwise
        assert f"tuned {decoder} threshold on {f['dev']} (120 documents) for {metric}: " \
               f"{best.threshold:g} (dev {metric} {best.score:.4f})" in res.output
        saved = json.loads(out.read_text())
        tuning = saved["meta"]["tuning"]
        assert (tuning["parameter"], tuning["value"], tuning["metric"]) == \
               ("threshold", best.threshold, metric)
        assert np.isclose(tuning["dev_score"], best.score)
        assert tuning["dev_gold"] == str(f["dev"]) and saved["meta"]["threshold"] == best.threshold
        expected = report(y_test, decode(p_test, tax, decoder, threshold=best.threshold), p_test,
                          taxonomy=tax)
        untuned = report(y_test, decode(p_test, tax, decoder), p_test, taxonomy=tax)
        assert saved["metrics"]["h_micro_f"] == expected["h_micro_f"] != untuned["h_micro_f"]
        assert saved["metrics"]["h_leaf_f"] == expected["h_leaf_f"]


def test_evaluate_tune_beta_of_optimal_decoders(tmp_path):
    from htc.cli import BETA_GRID
    from htc.decoding import METRICS, decode
    from htc.metrics import report

    tax, y_dev, p_dev, y_test, p_test, f = tuning_files(tmp_path)
    out = tmp_path / "r.json"
    res = runner.invoke(app, evaluate_args(f, "--decoder", "optimal_hf", "--metric", "h_macro_f",
                                           "--json", str(out)))
    assert res.exit_code == 0, res.output
    scores = [METRICS["h_macro_f"](y_dev, decode(p_dev, tax, "optimal_hf", beta=b), tax)
              for b in BETA_GRID]
    best = BETA_GRID[int(np.argmax(scores))]
    assert best != 1.0 and f"tuned optimal_hf beta on {f['dev']}" in res.output
    meta = json.loads(out.read_text())["meta"]
    assert meta["tuning"]["value"] == meta["decoder_beta"] == best
    assert np.allclose(meta["tuning"]["dev_scores"], scores)
    assert meta["beta"] == 1.0  # the F-scores keep --beta; only the decoder's beta is tuned
    expected = report(y_test, decode(p_test, tax, "optimal_hf", beta=best), p_test, taxonomy=tax)
    assert json.loads(out.read_text())["metrics"]["h_micro_f"] == expected["h_micro_f"]


def test_evaluate_tune_errors_are_one_line(tmp_path):
    *_, f = tuning_files(tmp_path)
    out = tmp_path / "r.json"
    base = ["evaluate", "-t", str(f["tax"]), "--gold", str(f["test"]), "--json", str(out)]
    cases = [
        ([*base, "--proba", str(f["test_p"]), "--tune-on", str(f["dev"])],
         "--tune-on DEV_GOLD.jsonl and --tune-proba DEV_PROBA.npy go together"),
        (evaluate_args(f, "--json", str(out))[:-4] + ["--tune-proba", str(f["test_p"])],
         f"{f['test_p']}: shape (80, 39), expected (120, 39) = (documents in {f['dev']}, "
         "taxonomy labels)"),
        (evaluate_args(f, "--metric", "accuracy"),
         "unknown metric 'accuracy' to tune for; choose from h_micro_f, h_samples_f, h_macro_f, "
         "h_leaf_f, flat_micro_f, flat_macro_f, c_micro_f, c_macro_f"),
        (evaluate_args(f, "--decoder", "greedy_leaf"), "decoder greedy_leaf has no parameter to tune"),
        ([*base, "--pred", str(f["test"]), "--tune-on", str(f["dev"]), "--tune-proba",
          str(f["dev_p"])], "--tune-on tunes the decoding of --proba; it does not apply to --pred"),
        ([*base, "--proba", str(f["test_p"]), "--metric", "h_leaf_f"],
         "--metric is the metric that tuning maximises; it needs --tune-on"),
        (evaluate_args(f)[:-1] + [str(tmp_path / "missing.npy")], "missing.npy: file not found"),
    ]
    for args, message in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and message in res.output, (args, res.output)
        assert len(res.output.strip().splitlines()) == 1 and not out.exists()


def test_train_tune_stores_the_threshold_and_predict_uses_it(tmp_path):
    from htc.data import read_jsonl
    from htc.decoding import decode, tune_threshold

    tax, dev, data, cfg = toy_folder(tmp_path)
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--data", str(data), "--config", str(cfg), "--tune",
                              "h_leaf_f", "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "result.json").read_text())
    best = tune_threshold(np.load(out / "dev_proba.npy"), dev.y, tax, metric="h_leaf_f")
    tuned = result["tuning"]
    assert tuned["value"] == best.threshold != 0.5 and np.isclose(tuned["dev_score"], best.score)
    assert (tuned["parameter"], tuned["metric"], tuned["untuned_value"]) == \
           ("threshold", "h_leaf_f", 0.5)
    assert f"tuned top_down threshold on dev for h_leaf_f: {best.threshold:g}" in res.output
    assert f"test (top_down {best.threshold:g})" in res.output
    assert result["config"]["threshold"] == best.threshold
    assert json.loads((out / "model" / "config.json").read_text())["threshold"] == best.threshold
    test_pred = read_jsonl(out / "test_pred.jsonl", tax, allow_empty=True).y.toarray()
    assert (test_pred == decode(np.load(out / "test_proba.npy"), tax, "top_down",
                                threshold=best.threshold)).all()
    # predict: the saved model decodes with the tuned threshold by default
    res = runner.invoke(app, ["predict", "--model", str(out / "model"), "-i",
                              str(data / "toy_test.json"), "--out", str(out / "pred")])
    assert res.exit_code == 0, res.output
    assert f"top_down {best.threshold:g}, tuned on dev for h_leaf_f" in res.output
    assert (out / "pred" / "pred_pred.jsonl").read_text() == (out / "test_pred.jsonl").read_text()
    # the dev files train writes let evaluate tune again, to the same value
    res = runner.invoke(app, ["evaluate", "-t", str(data / "toy.taxonomy"), "--gold",
                              str(data / "toy_test.json"), "--proba", str(out / "test_proba.npy"),
                              "--tune-on", str(out / "dev_gold.jsonl"), "--tune-proba",
                              str(out / "dev_proba.npy"), "--metric", "h_leaf_f"])
    assert res.exit_code == 0 and f"for h_leaf_f: {best.threshold:g} " in res.output, res.output


def test_train_tune_beta_and_bad_tune_options(tmp_path):
    from htc.data import read_jsonl
    from htc.decoding import decode

    tax, _, data, cfg = toy_folder(tmp_path)
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--data", str(data), "--config", str(cfg), "--decoder",
                              "optimal_hf", "--tune", "h_leaf_f", "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "result.json").read_text())
    beta = result["tuning"]["value"]
    assert result["tuning"]["parameter"] == "beta" and result["config"]["decoder_beta"] == beta
    assert result["config"]["threshold"] == 0.5
    res = runner.invoke(app, ["predict", "--model", str(out / "model"), "-i",
                              str(data / "toy_test.json"), "--out", str(out / "pred")])
    assert res.exit_code == 0 and f"optimal_hf beta {beta:g}, tuned" in res.output, res.output
    pred = read_jsonl(out / "pred" / "pred_pred.jsonl", tax, allow_empty=True).y.toarray()
    assert (pred == decode(np.load(out / "pred" / "pred_proba.npy"), tax, "optimal_hf",
                           beta=beta)).all()
    base = ["train", "--data", str(data), "--config", str(cfg), "--out", str(tmp_path / "bad")]
    for extra, message in ((["--tune", "accuracy"], "unknown metric 'accuracy' to tune for"),
                           (["--tune", "h_micro_f", "--decoder", "argmax_leaf"],
                            "decoder argmax_leaf has no parameter to tune")):
        res = runner.invoke(app, [*base, *extra])
        assert res.exit_code == 2 and message in res.output, res.output
        assert not (tmp_path / "bad").exists()  # refused before training
