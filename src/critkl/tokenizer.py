"""The 96-character tokenizer of Lee et al. / the authors' official code, Hugging Face compatible.

Vocabulary: ``sorted(set(ascii_letters + digits + punctuation + " \\n"))``, so ``'\\n'`` = 0,
``' '`` = 1 and ``chr(33..126)`` = 2..95; ``'%'`` (id 6) is the padding token. There is no EOS.

A saved model folder loads with ``transformers.AutoTokenizer.from_pretrained(folder)`` and no
``trust_remote_code``: :meth:`CharTokenizer.save_pretrained` also writes ``tokenizer.json``, the same
character vocabulary as a ``tokenizers`` fast tokenizer (:func:`fast_tokenizer`: WordLevel over
single characters, joined back without spaces), and names ``PreTrainedTokenizerFast`` in
``tokenizer_config.json``. ``CharTokenizer`` itself still reads such a folder.
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
FAST_TOKENIZER_FILE = "tokenizer.json"
FAST_TOKENIZER_CLASS = "PreTrainedTokenizerFast"  # what AutoTokenizer builds from tokenizer.json
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


def fast_tokenizer():
    """The vocabulary as a ``tokenizers.Tokenizer``: every character is one token (an unknown character
    is an error, as in :func:`encode`), ``'%'`` is a special token, decoding joins the characters.

    >>> fast_tokenizer().encode("57+8\\n").ids
    [22, 24, 12, 25, 0]
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel(vocab=dict(_STOI), unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens([AddedToken(PAD, special=True, normalized=False)])
    return tok


class CharTokenizer(PreTrainedTokenizer):
    """Hugging Face tokenizer over the 96 characters; ``'%'`` is the pad token.

    Saves and loads with ``save_pretrained`` / ``from_pretrained``; a saved folder also loads with
    ``AutoTokenizer.from_pretrained`` (as a fast tokenizer with the same ids).

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

    def save_pretrained(self, save_directory, *args, **kwargs):
        """``PreTrainedTokenizer.save_pretrained``, plus ``tokenizer.json`` and ``tokenizer_class`` set to
        ``PreTrainedTokenizerFast`` in ``tokenizer_config.json``, so that ``AutoTokenizer`` loads it."""
        files = super().save_pretrained(save_directory, *args, **kwargs)
        prefix = kwargs.get("filename_prefix") or (args[1] if len(args) > 1 else None)
        name = (prefix + "-" if prefix else "") + FAST_TOKENIZER_FILE
        fast = os.path.join(save_directory, name)
        fast_tokenizer().save(fast)
        config_file = next(f for f in files if str(f).endswith("tokenizer_config.json"))
        with open(config_file, encoding="utf-8") as f:
            config = json.load(f)
        config["tokenizer_class"] = FAST_TOKENIZER_CLASS
        # each class sets its own backend ("custom" here, "tokenizers" for the fast one); the other two
        # are from_pretrained's arguments, not settings
        for key in ("backend", "is_local", "local_files_only"):
            config.pop(key, None)
        with open(config_file, "w", encoding="utf-8") as f:
            json.dump(config, f, indent=2, sort_keys=True, ensure_ascii=False)
            f.write("\n")
        return (*files, fast)
