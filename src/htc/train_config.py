"""Training configuration: one dataclass, saved next to every model; ``htc train``'s options.

Each field carries its help text and, for strings with a fixed set of values, its ``choices`` in
``metadata``; ``htc train`` builds one option per field from them (:mod:`htc.cli_config`), so a new
field reaches ``htc train --help`` without touching the command line. ``__post_init__`` checks
every field (type, choices, range; no NaN or infinity) with a ``ValueError`` that starts with the
field's name. This module needs no torch (``htc.training`` re-exports :class:`TrainConfig`), so the
command line can build its help without the ``htc[train]`` extra.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from htc.data import atomic_write
from htc.decoding import METHODS
from htc.stats import end_labels
from htc.taxonomy import Taxonomy

#: the losses of :mod:`htc.losses`, the encoders of :mod:`htc.encoders`, and what the single-path
#: losses do with multi-path training documents (:mod:`htc.training.multipath`)
LOSSES = ("bce", "conditional_sigmoid", "conditional_softmax", "conditional_softmax_la",
          "leaf_softmax", "champ")
ENCODERS = ("tfidf", "frozen", "finetune")
MULTI_PATH = ("split", "error", "first", "drop")
#: model-selection scores of ``htc train`` (:attr:`TrainConfig.selection`)
SELECTION = ("auto", "h_micro_f", "h_samples_f")


#: the single-path loss ``loss="auto"`` picks (tree, one path per document)
AUTO_SINGLE_PATH = "conditional_softmax_la"
#: the loss ``loss="auto"`` picks otherwise (DAG, several paths, or a document without labels)
AUTO_MULTI_PATH = "conditional_sigmoid"


def auto_loss(taxonomy: Taxonomy, y) -> str:
    """The loss ``loss="auto"`` trains for targets ``y`` (ancestor-closed indicator).

    ``conditional_softmax_la`` (the paper's best loss on single-path data) when the taxonomy is a
    tree and every document has exactly one path; ``conditional_sigmoid`` otherwise: it models each
    label given its parent, so it takes DAGs, several paths and empty label sets natively, while a
    softmax over siblings can represent neither several paths nor no label at all.

    >>> tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B"]])
    >>> auto_loss(tax, tax.indicator([["A1"], ["B"]])), auto_loss(tax, tax.indicator([["A1", "B"]]))
    ('conditional_softmax_la', 'conditional_sigmoid')
    """
    paths = np.diff(end_labels(y, taxonomy).indptr)
    if taxonomy.is_tree and len(paths) and (paths == 1).all():
        return AUTO_SINGLE_PATH
    return AUTO_MULTI_PATH



def setting(default, help: str, choices: tuple[str, ...] | None = None):
    """A field with its help text (and the values it may take)."""
    meta = {"help": help} if choices is None else {"help": help, "choices": choices}
    return dataclasses.field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Everything a run depends on. Defaults follow the paper where they apply: head hidden 792,
    AdamW, warmup 10% then linear decay, gradient clipping 1.0, head lr 1e-3, encoder lr 2e-5,
    weight decay 0.01, model selection on dev micro-hF1 (top-down 0.5) for single-path data.

    ``loss="auto"`` picks by the training data (:func:`auto_loss`): the
    logit-adjusted conditional softmax on a tree where every document has one path, the
    conditional sigmoid otherwise; the run says which, and ``config.json`` keeps the loss trained.

    ``selection`` is the dev score that picks the epoch and stops training: ``"h_micro_f"`` (dev
    micro-hF1 under ``decoder`` at ``threshold``, the paper's recipe), ``"h_samples_f"`` (dev
    per-document hF1 under ``decoder``, the ``threshold``/``top_down`` decoders at the threshold
    best on dev that epoch: :func:`htc.decoding.tuning.selection_score`), or ``"auto"``:
    ``h_micro_f`` when every training document has one path, ``h_samples_f`` when some have
    several, where a softmax's marginals may never reach a fixed 0.5 and the paper's score stays
    near 0 whatever the epoch.

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

    loss: str = setting("conditional_softmax", "training loss; auto: conditional_softmax_la when "
                        "the taxonomy is a tree and every training document has one path, "
                        "conditional_sigmoid otherwise (several paths)", (*LOSSES, "auto"))
    encoder: str = setting("tfidf", "text encoder: TF-IDF(+LSA), frozen transformer embeddings "
                           "(cached) or a fine-tuned transformer", ENCODERS)
    model: str | None = setting(None, "transformers encoder (folder or name) for frozen/finetune "
                                "(default: MiniLM)")
    max_length: int = setting(256, "tokens per document for the transformer encoders")
    embed_precision: str = setting("auto", "precision of the frozen encoder: auto (bf16 on a CPU with "
                                   "native bf16, 2x faster, else fp32), fp32 or bf16",
                                   ("auto", "fp32", "bf16"))
    epochs: int = setting(30, "maximum training epochs, with early stopping (the paper's configs: 20, "
                          "htc reproduce's maximum)")
    batch_size: int = setting(32, "documents per batch")
    lr_head: float = setting(1e-3, "learning rate of the head")
    lr_encoder: float = setting(2e-5, "learning rate of a fine-tuned encoder")
    weight_decay: float = setting(0.01, "AdamW weight decay")
    warmup: float = setting(0.1, "share of the steps with a linear warmup, in [0, 1)")
    grad_clip: float = setting(1.0, "gradient norm clipping (0: none)")
    hidden: int = setting(792, "hidden units of the head")
    dropout: float = setting(0.1, "dropout of the head, in [0, 1)")
    tau: float = setting(1.0, "logit adjustment strength of conditional_softmax_la")
    champ_beta: float = setting(1e-4, "beta of the champ loss's distance weights")
    decoder: str = setting("top_down", "decoder for model selection and test predictions", METHODS)
    threshold: float = setting(0.5, "threshold of the threshold/top_down decoders, in [0, 1]")
    decoder_beta: float = setting(1.0, "beta of the optimal* decoders")
    patience: int = setting(5, "early stopping: epochs without a better dev score")
    selection: str = setting("auto", "dev score for early stopping and the kept epoch: h_micro_f "
                             "(under the decoder at its threshold, the paper's), h_samples_f "
                             "(per-document hF1, threshold tuned on dev each epoch) or auto "
                             "(h_samples_f when training documents have several paths)",
                             SELECTION)
    seed: int = setting(0, "random seed (also of the train/dev split of a dataset folder)")
    checkpoint_every: int = setting(0, "save a checkpoint every N steps (0: at the end of every "
                                    "epoch only)")
    tfidf_max_features: int = setting(50_000, "TF-IDF vocabulary size")
    tfidf_svd: int = setting(512, "LSA components of the TF-IDF encoder (0: raw sparse TF-IDF)")
    bf16: bool = setting(True, "bf16 autocast (on GPU only)")
    device: str = setting("auto", "torch device: auto (GPU when there is one), cpu, cuda, cuda:1, …")
    tensorboard: bool = setting(False, "also write each epoch's scalars to OUT/tensorboard/ (needs "
                                "htc[tensorboard])")
    multi_path: str = setting("split", "what the softmax losses do with a training document that "
                              "has several paths: split its target mass, error (refuse), first "
                              "(keep the path listed first) or drop it", MULTI_PATH)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            self._check_type(f.name, _field_types(type(self))[f.name])
            choices = f.metadata.get("choices")
            if choices is not None and getattr(self, f.name) not in choices:
                raise ValueError(f"{f.name} must be one of {', '.join(map(repr, choices))}, got "
                                 f"{getattr(self, f.name)!r}")
        for name in ("max_length", "epochs", "batch_size", "hidden", "patience",
                     "tfidf_max_features"):
            self._check(name, getattr(self, name) >= 1, ">= 1")
        for name in ("checkpoint_every", "tfidf_svd", "weight_decay", "grad_clip", "tau",
                     "champ_beta"):
            self._check(name, getattr(self, name) >= 0, ">= 0")
        for name in ("lr_head", "lr_encoder", "decoder_beta"):
            self._check(name, getattr(self, name) > 0, "> 0")
        self._check("seed", 0 <= self.seed < 2**32, "in [0, 2**32)")
        self._check("warmup", 0 <= self.warmup < 1, "a fraction in [0, 1)")
        self._check("dropout", 0 <= self.dropout < 1, "in [0, 1)")
        self._check("threshold", 0 <= self.threshold <= 1, "in [0, 1]")
        self._check("device", self.device != "", "a torch device (auto, cpu, cuda, …)")

    def _check(self, name: str, ok: bool, rule: str) -> None:
        if not ok:
            raise ValueError(f"{name} must be {rule}, got {getattr(self, name)!r}")

    def _check_type(self, name: str, tp) -> None:
        value = getattr(self, name)
        optional = type(None) in typing.get_args(tp)
        if optional and value is None:
            return
        tp = next(t for t in typing.get_args(tp) if t is not type(None)) if optional else tp
        if tp is bool:
            self._check(name, isinstance(value, bool), "true or false")
        elif tp is str:
            self._check(name, isinstance(value, str), "a string")
        elif tp in (int, float):
            kind = numbers.Integral if tp is int else numbers.Real
            self._check(name, isinstance(value, kind) and not isinstance(value, bool),
                        "an integer" if tp is int else "a number")
            if tp is float:
                self._check(name, math.isfinite(value), "a finite number")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Write the fields as JSON, atomically (a temporary file, then a rename)."""
        with atomic_write(path) as fh:
            fh.write(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """A config from a JSON object of fields (a run's ``config.json``); errors name the file."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: file not found") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not JSON ({err})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of TrainConfig fields")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
        try:
            return cls(**data)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None


@functools.cache
def _field_types(cls) -> dict:
    """The resolved annotation of each field (this module's annotations are strings)."""
    return typing.get_type_hints(cls)
