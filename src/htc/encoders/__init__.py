"""Text encoders: ``tfidf`` (scikit-learn), ``frozen`` (cached transformers embeddings),
``finetune`` (a transformers encoder trained with the head); the extra ``htc[train]``."""

import htc._train_deps  # noqa: F401  (first: without torch, one line naming the extra)
from htc.encoders.finetune import FinetuneEncoder
from htc.encoders.frozen import FrozenEncoder
from htc.encoders.pretrained import DEFAULT_ENCODER, load_encoder, resolve_model_path
from htc.encoders.tfidf import TfidfEncoder
from htc.train_config import ENCODERS  # the names, defined where the CLI reads them without torch

__all__ = ["DEFAULT_ENCODER", "ENCODERS", "FinetuneEncoder", "FrozenEncoder", "TfidfEncoder",
           "load_encoder", "resolve_model_path"]
