"""The 96-character tokenizer of Lee et al. / the authors' official code, Hugging Face compatible.

Vocabulary: ``sorted(set(ascii_letters + digits + punctuation + " \\n"))``, so ``'\\n'`` = 0,
``' '`` = 1 and ``chr(33..126)`` = 2..95; ``'%'`` (id 6) is the padding token. There is no EOS.
"""

from __future__ import annotations

import json
import os
import string

import torch
from transformers import PreTrainedTokenizer

VOCAB: tuple[str, ...] = tuple(
    sorted(set(string.ascii_letters + string.digits + string.punctuation + " \n"))
)
PAD = "%"
VOCAB_FILE = "vocab.json"
_STOI = {c: i for i, c in enumerate(VOCAB)}


class OutOfVocabularyError(ValueError):
    """A character that is not in the 96-character vocabulary."""


def encode(text: str) -> list[int]:
    """Character ids of ``text``; raises :class:`OutOfVocabularyError` naming the character.

    >>> encode("1+2\\n")
    [18, 12, 19, 0]
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    try:
        return [_STOI[c] for c in text]
    except KeyError:
        pos = next(i for i, c in enumerate(text) if c not in _STOI)
        raise OutOfVocabularyError(
            f"text: character {text[pos]!r} at position {pos} is not in the 96-character "
            "vocabulary (ASCII letters, digits, punctuation, space, newline)"
        ) from None


def decode(ids) -> str:
    """Text of a sequence of ids (list or 1-D tensor).

    >>> decode([18, 12, 19])
    '1+2'
    """
    if isinstance(ids, torch.Tensor):
        ids = ids.tolist()
    try:
        return "".join(VOCAB[i] for i in ids)
    except (IndexError, TypeError):
        bad = next((i for i in ids if not isinstance(i, int) or not 0 <= i < len(VOCAB)), None)
        raise ValueError(f"ids: {bad!r} is not a token id in 0..{len(VOCAB) - 1}") from None


class CharTokenizer(PreTrainedTokenizer):
    """Hugging Face tokenizer over the 96 characters; ``'%'`` is the pad token.

    Saves and loads with ``save_pretrained`` / ``from_pretrained``.

    >>> tok = CharTokenizer()
    >>> tok("57+8")["input_ids"], tok.pad_token_id, len(tok)
    ([22, 24, 12, 25], 6, 96)
    """

    vocab_files_names = {"vocab_file": VOCAB_FILE}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, vocab_file: str | None = None, **kwargs):
        if vocab_file is not None:
            with open(vocab_file, encoding="utf-8") as f:
                saved = json.load(f)
            if saved != dict(_STOI):
                raise ValueError(
                    f"vocab_file {vocab_file}: the saved vocabulary differs from the "
                    "96-character vocabulary this tokenizer implements"
                )
        kwargs.setdefault("pad_token", PAD)
        kwargs.setdefault("padding_side", "left")
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        super().__init__(**kwargs)

    @property
    def vocab_size(self) -> int:
        return len(VOCAB)

    def get_vocab(self) -> dict[str, int]:
        return dict(_STOI)

    def _tokenize(self, text: str, **kwargs) -> list[str]:
        encode(text)  # raises a clear error on characters outside the vocabulary
        return list(text)

    def _convert_token_to_id(self, token: str) -> int:
        if token not in _STOI:
            raise OutOfVocabularyError(f"token {token!r} is not in the 96-character vocabulary")
        return _STOI[token]

    def _convert_id_to_token(self, index: int) -> str:
        if not 0 <= index < len(VOCAB):
            raise ValueError(f"ids: {index} is not a token id in 0..{len(VOCAB) - 1}")
        return VOCAB[index]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None):
        if not os.path.isdir(save_directory):
            raise NotADirectoryError(f"save_directory {save_directory} is not a directory")
        name = (filename_prefix + "-" if filename_prefix else "") + VOCAB_FILE
        path = os.path.join(save_directory, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(_STOI), f, ensure_ascii=True, indent=0)
        return (path,)
