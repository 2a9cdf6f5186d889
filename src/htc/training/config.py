"""Training configuration: one dataclass, saved next to every model."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from htc.decoding import METHODS
from htc.encoders import ENCODERS
from htc.losses import LOSSES
from htc.training.multipath import MULTI_PATH


@dataclass
class TrainConfig:
    """Everything a run depends on. Defaults follow the paper where they apply: head hidden 792,
    AdamW, warmup 10% then linear decay, gradient clipping 1.0, head lr 1e-3, encoder lr 2e-5,
    weight decay 0.01, model selection on dev micro-hF1 (top-down 0.5).

    ``threshold`` is the parameter of the ``threshold``/``top_down`` decoders and ``decoder_beta``
    that of the optimal ones; ``htc train --tune METRIC`` replaces the one the decoder uses by its
    best value on dev, and the saved model keeps it.

    ``multi_path`` says what the single-path losses (conditional softmax, its logit-adjusted
    variant, leaf softmax) do with a training document that has several paths: ``"split"`` its
    target mass over the positive labels, ``"error"`` (refuse before fitting anything, naming the
    file, line and document), ``"first"`` (keep the path listed first in the file) or ``"drop"``
    (see :mod:`htc.training.multipath`). The default is ``"split"``: on single-path data it is the
    paper's loss exactly, so it changes no result there; on multi-path data it is the standard
    multi-label softmax and uses every label, where a refusal would stop the default command
    (``htc train`` with conditional softmax) on multi-path datasets such as RCV1, and ``"first"``
    or ``"drop"`` would discard labels. The run says how many documents it split.
    """

    loss: str = "conditional_softmax"
    encoder: str = "tfidf"
    model: str | None = None  # transformers encoder for frozen/finetune (default: MiniLM)
    max_length: int = 256
    epochs: int = 30
    batch_size: int = 32
    lr_head: float = 1e-3
    lr_encoder: float = 2e-5
    weight_decay: float = 0.01
    warmup: float = 0.1
    grad_clip: float = 1.0
    hidden: int = 792
    dropout: float = 0.1
    tau: float = 1.0
    champ_beta: float = 1e-4
    decoder: str = "top_down"
    threshold: float = 0.5
    decoder_beta: float = 1.0  # beta of the optimal* decoders
    patience: int = 5
    seed: int = 0
    checkpoint_every: int = 0  # steps; 0 = at the end of every epoch only
    tfidf_max_features: int = 50_000
    tfidf_svd: int = 512  # LSA components (0 = raw sparse TF-IDF)
    bf16: bool = True  # on GPU only
    device: str = "auto"
    multi_path: str = "split"  # split, error, first or drop

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.decoder not in METHODS:
            raise ValueError(f"decoder must be one of {METHODS}, got {self.decoder!r}")
        for name in ("epochs", "batch_size", "hidden", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr_head", "lr_encoder", "decoder_beta"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.multi_path not in MULTI_PATH:
            raise ValueError(f"multi_path must be one of {MULTI_PATH} (what single-path losses do "
                             f"with documents that have several paths), got {self.multi_path!r}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be a fraction in [0, 1), got {self.warmup}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        data = json.loads(Path(path).read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
        return cls(**data)
