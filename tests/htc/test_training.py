import io
import json

import numpy as np
import pytest
import torch
from rich.console import Console

from htc import Taxonomy
from htc.data import Corpus, read_jsonl, write_jsonl
from htc.datasets import random_taxonomy, sample_labels
from htc.training import TrainConfig, Trainer
from htc.training.multipath import (
    MultiPathError,
    MultiPathLossWarning,
    first_paths,
    multi_path_rows,
)


def synthetic_corpus(n, seed, multi_path=False):
    """Texts whose words name their labels, plus noise: learnable by TF-IDF."""
    tax = random_taxonomy(3, (2, 3), seed=0)
    y = sample_labels(tax, n, seed=seed, multi_path=multi_path)
    rng = np.random.default_rng(seed)
    texts = []
    for labels in tax.labels_of(y):
        words = [lab.replace(".", "_") for lab in labels] * 2
        words += [f"noise{int(k)}" for k in rng.integers(0, 30, size=8)]
        rng.shuffle(words)
        texts.append(" ".join(words))
    return tax, Corpus(texts, y)


@pytest.fixture(scope="module")
def data():
    tax, train = synthetic_corpus(48, seed=1)
    _, dev = synthetic_corpus(24, seed=2)
    return tax, train, dev


def config(**kw):
    base = dict(loss="conditional_softmax", encoder="tfidf", epochs=3, batch_size=8, hidden=32,
                tfidf_svd=16, lr_head=3e-3, patience=10, checkpoint_every=4)
    base.update(kw)
    return TrainConfig(**base)


def weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_killed_mid_epoch_resumes_identically(tmp_path, data):
    tax, train, dev = data
    full = Trainer(config(), tax, out_dir=tmp_path / "full", progress=False)
    res_full = full.fit(train, dev)
    # 6 steps per epoch, checkpoints every 4 steps: kill at step 9 (epoch 2, after step 8's save)
    killed = Trainer(config(), tax, out_dir=tmp_path / "resumed", progress=False)
    assert killed.fit(train, dev, stop_after_steps=9) == {"stopped_at_step": 9}
    resumed = Trainer(config(), tax, out_dir=tmp_path / "resumed", progress=False)
    res_resumed = resumed.fit(train, dev, resume=True)
    assert res_resumed["best_dev_h_micro_f"] == res_full["best_dev_h_micro_f"]
    assert [h["dev_h_micro_f"] for h in resumed.history] == [h["dev_h_micro_f"] for h in full.history]
    # the resumed epoch's loss covers its steps before the interruption too
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    wf, wr = weights(full), weights(resumed)
    assert all(torch.equal(wf[k], wr[k]) for k in wf)
    assert np.array_equal(full.predict_proba(dev.texts), resumed.predict_proba(dev.texts))
    log = [json.loads(line) for line in (tmp_path / "full" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]


@pytest.mark.parametrize("loss", ["bce", "conditional_sigmoid", "conditional_softmax_la",
                                  "leaf_softmax", "champ"])
def test_every_loss_learns_and_roundtrips(tmp_path, data, loss):
    tax, train, dev = data
    trainer = Trainer(config(loss=loss, epochs=8, checkpoint_every=0), tax, progress=False)
    trainer.fit(train, dev)
    losses = [h["train_loss"] for h in trainer.history]
    assert losses[-1] < losses[0]
    proba = trainer.predict_proba(dev.texts)
    assert proba.shape == (len(dev), len(tax)) and ((proba >= 0) & (proba <= 1)).all()
    folder = trainer.save(tmp_path / "model")
    again = Trainer.load(folder)
    assert np.allclose(again.predict_proba(dev.texts), proba, atol=1e-6)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        Trainer.load(tmp_path)
    with pytest.raises(ValueError, match="loss must be one of"):
        TrainConfig(loss="hinge")
    with pytest.raises(ValueError, match="warmup"):
        TrainConfig(warmup=1.5)


def test_resume_without_checkpoint(tmp_path, data):
    tax, train, dev = data
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        Trainer(config(), tax, out_dir=tmp_path, progress=False).fit(train, dev, resume=True)


def multi_path_files(tmp_path):
    """A training and a dev JSONL file in which about half the documents have several paths."""
    tax, train = synthetic_corpus(48, seed=1, multi_path=True)
    _, dev = synthetic_corpus(24, seed=2, multi_path=True)
    paths = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    for path, corpus in zip(paths, (train, dev)):
        write_jsonl(path, corpus.texts, corpus.y, tax)
    return tax, *paths


def test_multi_path_error_refuses_before_the_encoder_is_fitted(tmp_path, monkeypatch):
    tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    train = tmp_path / "train.jsonl"
    train.write_text('{"token": ["one"], "label": ["A1"]}\n\n'
                     '{"token": ["two paths"], "label": ["A2", "B"]}\n'
                     '{"token": ["three"], "label": ["A", "A1", "A2"]}\n')
    corpus = read_jsonl(train, tax)
    assert corpus.lines.tolist() == [1, 3, 4]

    def no_fit(*args, **kwargs):
        raise AssertionError("the encoder was fitted before the multi-path check")

    monkeypatch.setattr("htc.training.trainer.TfidfEncoder.fit", no_fit)
    for loss in ("conditional_softmax", "conditional_softmax_la", "leaf_softmax"):
        trainer = Trainer(config(loss=loss, multi_path="error"), tax, progress=False)
        with pytest.raises(MultiPathError) as err:
            trainer.fit(corpus, corpus)
        msg = str(err.value)
        assert msg.startswith(f"{train}:3: training document 1 ('two paths') has 2 paths, "
                              "ending at A2, B; 2 of the 3 training documents"), msg
        assert loss in msg and "--multi-path split|first|drop" in msg
        assert isinstance(err.value, ValueError) and err.value.line == 3
    # losses that take several paths natively never refuse (here: they reach the encoder)
    for loss in ("bce", "conditional_sigmoid", "champ"):
        trainer = Trainer(config(loss=loss, multi_path="error"), tax, progress=False)
        with pytest.raises(AssertionError, match="encoder was fitted"):
            trainer.fit(corpus, corpus)


def test_first_keeps_the_path_listed_first(tmp_path):
    tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    path = tmp_path / "d.jsonl"
    path.write_text('{"token": ["x"], "label": ["A", "B", "A2", "A1", "B"]}\n'
                    '{"token": ["y"], "label": ["A1"]}\n'
                    '{"token": ["z"], "label": ["A2", "A", "A1"]}\n')
    corpus = read_jsonl(path, tax)
    # A: 1, B: 2 (listed twice, first position kept), A2: 3, A1: 4
    assert corpus.label_order[0].toarray().tolist() == [[1, 4, 3, 2]]
    assert multi_path_rows(corpus.y, tax).tolist() == [0, 2]
    assert tax.labels_of(first_paths(corpus, tax)) == [["B"], ["A", "A1"], ["A", "A2"]]
    assert tax.labels_of(first_paths(corpus.subset([2, 1]), tax)) == [["A", "A2"], ["A", "A1"]]
    with pytest.raises(ValueError, match="no label order"):
        first_paths(Corpus(corpus.texts, corpus.y), tax)


@pytest.mark.parametrize("loss", ["conditional_softmax_la", "leaf_softmax"])
@pytest.mark.parametrize("multi_path", ["split", "first", "drop"])
def test_every_multi_path_option_trains(tmp_path, loss, multi_path):
    tax, train_f, dev_f = multi_path_files(tmp_path)
    train, dev = read_jsonl(train_f, tax), read_jsonl(dev_f, tax)
    n_multi = len(multi_path_rows(train.y, tax))
    assert 0 < n_multi < len(train)
    console = Console(file=io.StringIO(), width=200)
    trainer = Trainer(config(loss=loss, multi_path=multi_path, epochs=4, checkpoint_every=0), tax,
                      console=console, progress=False)
    if multi_path == "split":  # the softmax losses are the wrong model there: a warning says so
        with pytest.warns(MultiPathLossWarning, match="conditional_sigmoid"):
            summary = trainer.fit(train, dev)
    else:
        summary = trainer.fit(train, dev)
    share = f"{n_multi / len(train):.0%}"
    said = {"split": f"{n_multi} of {len(train)} training documents ({share}) have several paths, "
                     f"but the {loss} loss models one path per document",
            "first": f"{n_multi} of {len(train)} training documents have several paths: kept the "
                     "path listed first",
            "drop": f"dropped {n_multi} of {len(train)} training documents that have several paths"}
    assert said[multi_path] in console.file.getvalue().replace("\n", " ")
    assert summary["multi_path_docs"] == n_multi
    assert summary["train_docs"] == len(train) - (n_multi if multi_path == "drop" else 0)
    # "split" builds the multi-positive loss; "first" and "drop" give it single-path targets only
    assert trainer.loss_fn.multi_positive == (multi_path == "split")
    losses = [h["train_loss"] for h in trainer.history]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    proba = trainer.predict_proba(dev.texts)
    assert proba.shape == (len(dev), len(tax))


def test_drop_slices_precomputed_features(tmp_path):
    tax, train_f, dev_f = multi_path_files(tmp_path)
    train, dev = read_jsonl(train_f, tax), read_jsonl(dev_f, tax)
    x_train, x_dev = np.random.default_rng(0).normal(size=(len(train), 8)), np.zeros((len(dev), 8))
    trainer = Trainer(config(multi_path="drop", epochs=1), tax, progress=False)
    summary = trainer.fit(train, dev, inputs=(x_train, x_dev))
    assert summary["train_docs"] == len(train) - len(multi_path_rows(train.y, tax))
    only_multi = train.subset(multi_path_rows(train.y, tax))
    with pytest.raises(MultiPathError, match=f"{train_f}: all .* leaves none"):
        trainer.fit(only_multi, dev)


def test_multi_path_config_is_validated():
    assert TrainConfig().multi_path == "split"
    with pytest.raises(ValueError, match="multi_path must be one of .*'split', 'error', 'first', "
                                         "'drop'.*got 'keep'"):
        TrainConfig(multi_path="keep")


def test_tensorboard_scalars_go_to_the_run_folder(tmp_path, data):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tax, train, dev = data
    Trainer(config(epochs=2, tensorboard=True), tax, out_dir=tmp_path, progress=False).fit(train, dev)
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train_loss", "dev_h_micro_f", "lr_head"} <= tags and "epoch" not in tags
    assert [e.step for e in acc.Scalars("train_loss")] == [1, 2]
    assert TrainConfig.load(tmp_path / "config.json").tensorboard is True
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".tmp-*"))
