import json

import numpy as np
import pytest
import torch

from htc.data import Corpus
from htc.datasets import random_taxonomy, sample_labels
from htc.training import TrainConfig, Trainer


def synthetic_corpus(n, seed):
    """Texts whose words name their labels, plus noise: learnable by TF-IDF."""
    tax = random_taxonomy(3, (2, 3), seed=0)
    y = sample_labels(tax, n, seed=seed)
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
