"""Model sizes, context, save/load round trip and broken folders."""

import pytest
import torch

from critkl.arithmetic import all_nines, episode_length
from critkl.model import build_model, context_length, load_model, load_pretrained, save_model
from critkl.tokenizer import CharTokenizer


@pytest.mark.parametrize("n", [1, 3, 5, 7, 9])
def test_context_fits_rl_episode_and_eval_lengths(n):
    ctx = context_length(n)
    rl = all_nines(n + 1)
    assert ctx >= len(rl.prompt) + len(rl.target) + 100
    assert ctx >= episode_length(n + 3)
    assert ctx % 32 == 0 and ctx - 32 < max(len(rl.prompt) + len(rl.target) + 100, episode_length(n + 3))


def test_context_for_paper_n7_covers_the_725_step_rl_episode():
    assert context_length(7) >= 725 + 32


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_n_below_one_is_rejected(bad):
    with pytest.raises(ValueError, match="max_digits must be an int >= 1"):
        context_length(bad)
    with pytest.raises(ValueError, match="max_digits must be an int >= 1"):
        build_model("tiny", bad)


def test_named_sizes():
    tiny = build_model("tiny", 3)
    assert sum(p.numel() for p in tiny.parameters()) < 1_000_000
    small = build_model("small", 7, device="meta")
    assert (small.config.n_layer, small.config.n_embd) == (6, 384)
    paper = build_model("paper", 7, device="meta")
    n_params = sum(p.numel() for p in paper.parameters()) - paper.transformer.wpe.weight.numel()
    assert (paper.config.n_layer, paper.config.n_embd) == (12, 768)
    assert abs(n_params - 85.13e6) < 0.05e6  # the paper's 85M: 85.13M without position embeddings
    with pytest.raises(ValueError, match="size must be one of"):
        build_model("huge", 3)


def test_save_load_round_trip(tmp_path, random_tiny):
    save_model(random_tiny, CharTokenizer(), tmp_path / "m", training_config={"steps": 1})
    model, tok = load_model(tmp_path / "m")
    ids = torch.tensor([tok("Input:\n1+2\nTarget:")["input_ids"]])
    assert torch.equal(model(ids).logits, random_tiny(ids).logits)
    assert model.config.critkl_max_digits == 3
    assert (tmp_path / "m" / "model.safetensors").is_file()


@pytest.mark.parametrize("missing", ["model.safetensors", "config.json", "vocab.json", "tokenizer_config.json"])
def test_folder_with_missing_files_is_named(tmp_path, random_tiny, missing):
    save_model(random_tiny, CharTokenizer(), tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(FileNotFoundError, match=f"is missing {missing}"):
        load_model(tmp_path)


def test_unknown_model_names():
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_model("/nonexistent/folder")
    with pytest.raises(FileNotFoundError, match="no shipped pretrained model"):
        load_pretrained("tiny-n99")
