"""The 96-character tokenizer: fixed ids, HF round trip, clear errors."""

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from critkl.arithmetic import prompt, target
from critkl.tokenizer import VOCAB, CharTokenizer, OutOfVocabularyError, decode, encode


def test_vocabulary_matches_spec_ids():
    assert len(VOCAB) == 96
    assert VOCAB[0] == "\n" and VOCAB[1] == " "
    assert all(VOCAB[i - 31] == chr(i) for i in range(33, 127))
    assert encode("%,12345") == [6, 13, 18, 19, 20, 21, 22]
    assert encode("0123456789") == list(range(17, 27))


@given(st.text(alphabet=string.printable.replace("\t", "").replace("\r", "").replace("\x0b", "").replace("\x0c", "")))
def test_encode_decode_roundtrip(text):
    assert decode(encode(text)) == text
    tok = CharTokenizer()
    assert tok(text)["input_ids"] == encode(text)
    assert tok.decode(encode(text)) == text


def test_save_and_load(tmp_path):
    tok = CharTokenizer()
    tok.save_pretrained(tmp_path)
    loaded = CharTokenizer.from_pretrained(tmp_path)
    text = prompt(84629, 1863) + target(84629, 1863)
    assert loaded(text)["input_ids"] == encode(text)
    assert loaded.pad_token == "%" and loaded.pad_token_id == 6 and len(loaded) == 96


def test_tampered_vocab_file_is_rejected(tmp_path):
    CharTokenizer().save_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text('{"a": 0}')
    with pytest.raises(ValueError, match="vocab_file .* differs"):
        CharTokenizer.from_pretrained(tmp_path)


@pytest.mark.parametrize("text,char", [("12+é", "é"), ("1\t2", "\\t"), ("€", "€")])
def test_out_of_vocabulary_characters_are_named(text, char):
    with pytest.raises(OutOfVocabularyError, match="not in the 96-character vocabulary"):
        encode(text)
    with pytest.raises(OutOfVocabularyError, match="position"):
        CharTokenizer()(text)


def test_decode_rejects_bad_ids():
    with pytest.raises(ValueError, match="ids: 96"):
        decode([1, 96])


@pytest.mark.parametrize("name", ["tiny-n3", "tiny-n4"])
def test_auto_tokenizer_loads_the_shipped_models_like_critkl(name):
    from transformers import AutoTokenizer

    from critkl.model import PRETRAINED_DIR

    auto = AutoTokenizer.from_pretrained(PRETRAINED_DIR / name)  # no trust_remote_code
    own = CharTokenizer.from_pretrained(PRETRAINED_DIR / name)
    text = prompt(84629, 1863) + target(84629, 1863)
    ids = auto(text)["input_ids"]
    assert ids == own(text)["input_ids"] == encode(text)
    assert auto.decode(ids) == own.decode(ids) == text
    assert (auto.pad_token, auto.pad_token_id, auto.padding_side, len(auto)) == ("%", 6, "left", 96)
    batch = auto(["1+2", "123+45"], padding=True)["input_ids"]
    assert batch == own(["1+2", "123+45"], padding=True)["input_ids"]


def test_saved_models_load_with_auto_tokenizer(tmp_path, random_tiny):
    from transformers import AutoTokenizer

    from critkl.model import load_model, save_model
    from critkl.pretrain import PAD_ID
    from critkl.tokenizer import PAD

    save_model(random_tiny, CharTokenizer(), tmp_path)  # what critkl pretrain and critkl rl write
    auto = AutoTokenizer.from_pretrained(tmp_path)
    text = prompt(507, 98) + target(507, 98)
    assert auto(text)["input_ids"] == encode(text) and auto.decode(encode(text)) == text
    assert isinstance(load_model(tmp_path)[1], CharTokenizer)
    assert encode(PAD) == [PAD_ID]
    with pytest.raises(Exception, match="UNK"):  # an unknown character is an error there too
        auto("12+é")
