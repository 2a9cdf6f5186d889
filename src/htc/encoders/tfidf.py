"""TF-IDF features (scikit-learn), reduced by truncated SVD (LSA): seconds on a CPU, saved without
pickling. Raw TF-IDF (``svd_dim=0``) gives a 50,000-wide first layer (40M weights with the paper's
792-unit head), which makes every optimiser step slow on a CPU; 512 LSA components train the same
head in milliseconds per step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class TfidfEncoder:
    """Sublinear TF-IDF over word uni- and bigrams, then ``svd_dim`` LSA components (0: none);
    ``fit`` on training texts only.

    >>> enc = TfidfEncoder(min_df=1, svd_dim=0).fit(["the cat", "the dog"])
    >>> enc.transform(["the cat"]).shape  # the, cat, dog, "the cat", "the dog"
    (1, 5)
    """

    kind = "tfidf"

    def __init__(self, max_features: int = 50_000, min_df: int = 2, ngram_range=(1, 2),
                 svd_dim: int = 512, seed: int = 0) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.params = {"max_features": max_features, "min_df": min_df,
                       "ngram_range": list(ngram_range), "svd_dim": svd_dim, "seed": seed}
        self.vectorizer = TfidfVectorizer(sublinear_tf=True, max_features=max_features,
                                          min_df=min_df, ngram_range=tuple(ngram_range),
                                          dtype=np.float32)
        self.components = None  # (svd_dim, vocabulary) when fitted with svd_dim > 0

    @property
    def dim(self) -> int:
        if self.components is not None:
            return self.components.shape[0]
        return len(self.vectorizer.vocabulary_)

    def fit(self, texts) -> TfidfEncoder:
        x = self.vectorizer.fit_transform(texts)
        k = min(self.params["svd_dim"], x.shape[0] - 1, x.shape[1] - 1)
        if self.params["svd_dim"] > 0 and k > 0:
            from sklearn.decomposition import TruncatedSVD

            svd = TruncatedSVD(n_components=k, random_state=self.params["seed"]).fit(x)
            self.components = svd.components_.astype(np.float32)
        return self

    def transform(self, texts):
        x = self.vectorizer.transform(texts).astype(np.float32).tocsr()
        if self.components is None:
            return x
        z = np.asarray(x @ self.components.T, dtype=np.float32)
        return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-8)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        vocab = {k: int(v) for k, v in self.vectorizer.vocabulary_.items()}
        (folder / "tfidf.json").write_text(json.dumps({"params": self.params, "vocabulary": vocab}))
        np.save(folder / "tfidf_idf.npy", self.vectorizer.idf_)
        if self.components is not None:
            np.save(folder / "tfidf_svd.npy", self.components)

    @classmethod
    def load(cls, folder: str | Path) -> TfidfEncoder:
        folder = Path(folder)
        meta = json.loads((folder / "tfidf.json").read_text())
        enc = cls(**meta["params"])
        enc.vectorizer.vocabulary_ = meta["vocabulary"]
        enc.vectorizer.idf_ = np.load(folder / "tfidf_idf.npy")
        if (folder / "tfidf_svd.npy").is_file():
            enc.components = np.load(folder / "tfidf_svd.npy")
        return enc
