"""The preallocated cache and decoder choice: any causal LM decodes as through transformers' own cache."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from critkl import PreallocatedCache, generate_ids, pick_decoder, supports_preallocation
from critkl.generation import model_context
from critkl.model import build_model

SMALL = dict(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
             pad_token_id=6, bos_token_id=None, eos_token_id=None)


def _llama():
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(**SMALL)).eval()


def _qwen2():
    torch.manual_seed(0)
    return Qwen2ForCausalLM(Qwen2Config(**SMALL)).eval()


def _gpt2():
    torch.manual_seed(0)
    return build_model("tiny", 3).eval()


MODELS = {"gpt2": _gpt2, "llama": _llama, "qwen2": _qwen2}
PROMPTS = [[5, 6, 7, 8], [9, 10], [11, 12, 13, 14, 15, 16, 17], [20]]
LIMITS = [30, 3, 17, 1]  # rows leave the batch at different steps


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_cache_decoder_equals_transformers_dynamic_cache(name, temperature):
    model = MODELS[name]()
    assert supports_preallocation(model.config)
    runs = [generate_ids(model, PROMPTS, LIMITS, temperature, torch.Generator().manual_seed(4),
                         return_logprobs=True, decoder=d) for d in ("cache", "transformers")]
    (ids_a, lp_a), (ids_b, lp_b) = runs
    assert ids_a == ids_b
    assert len({len(r) for r in ids_a}) > 1  # rows left the batch (and the cache) at different steps
    for x, y in zip(lp_a, lp_b, strict=True):
        torch.testing.assert_close(torch.tensor(x), torch.tensor(y), atol=1e-5, rtol=1e-5)


@settings(max_examples=25, deadline=None)
@given(prompts=st.lists(st.lists(st.integers(7, 95), min_size=1, max_size=6), min_size=1, max_size=5),
       data=st.data())
def test_cache_decoder_matches_on_random_batches(prompts, data):
    model = _MODEL
    limits = data.draw(st.lists(st.integers(1, 9), min_size=len(prompts), max_size=len(prompts)))
    a = generate_ids(model, prompts, limits, decoder="cache")
    b = generate_ids(model, prompts, limits, decoder="transformers")
    assert a == b


_MODEL = _llama()


def test_auto_picks_the_fastest_supported_decoder():
    assert pick_decoder(_gpt2()) == "gpt2"
    assert pick_decoder(_gpt2().train()) == "cache"
    assert pick_decoder(_llama()) == "cache"
    assert pick_decoder(_llama(), "transformers") == "transformers"


def test_sliding_window_models_keep_transformers_cache():
    config = MistralConfig(**SMALL, sliding_window=4)
    torch.manual_seed(0)
    model = MistralForCausalLM(config).eval()
    assert not supports_preallocation(config)
    assert pick_decoder(model) == "transformers"
    with pytest.raises(ValueError, match="decoder='cache'"):
        pick_decoder(model, "cache")
    with pytest.raises(ValueError, match="plain full attention"):
        PreallocatedCache(config, 8)
    out = generate_ids(model, PROMPTS, LIMITS)  # auto still decodes it
    assert out == generate_ids(model, PROMPTS, LIMITS, decoder="transformers")
    assert all(1 <= len(r) <= n for r, n in zip(out, LIMITS, strict=True))


def test_bad_decoder_names_are_refused():
    with pytest.raises(ValueError, match="decoder must be one of"):
        generate_ids(_gpt2(), PROMPTS, 4, decoder="fast")
    with pytest.raises(ValueError, match="decoder='gpt2'"):
        generate_ids(_llama(), PROMPTS, 4, decoder="gpt2")


def test_cache_refuses_to_overflow_and_bad_capacity():
    model = _llama()
    with pytest.raises(ValueError, match="capacity"):
        PreallocatedCache(model.config, 0)
    cache = PreallocatedCache(model.config, capacity=2)
    with pytest.raises(ValueError, match="exceed its capacity of 2"):
        model(input_ids=torch.tensor([[5, 6, 7]]), cache=cache, use_cache=True)


def test_cache_crop_and_reset():
    model = _llama()
    cache = PreallocatedCache(model.config, capacity=8)
    model(input_ids=torch.tensor([[5, 6, 7, 8]]), cache=cache, use_cache=True)
    assert cache.get_seq_length() == 4
    cache.crop(-1)
    assert cache.get_seq_length() == 3
    cache.reset()
    assert cache.get_seq_length() == 0


def test_context_comes_from_either_config_name():
    assert model_context(_gpt2()) == _gpt2().config.n_positions
    assert model_context(_llama()) == SMALL["max_position_embeddings"]


@pytest.mark.parametrize("decoder", ["cache", "transformers"])
def test_stop_ids_match_transformers_generate_with_eos(decoder):
    model = _llama()
    free = generate_ids(model, PROMPTS, 12, decoder=decoder)
    stop = free[0][3]  # a token the model does emit, so that rows stop early
    ours = generate_ids(model, PROMPTS, 12, decoder=decoder, stop_ids=[stop])
    from critkl.generation import left_pad

    ids, mask, _ = left_pad(PROMPTS)
    out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=12,
                         eos_token_id=stop, pad_token_id=6)[:, ids.shape[1]:].tolist()
    expected = [row[:row.index(stop) + 1] if stop in row else row for row in out]
    assert ours == expected
    assert len(ours[0]) == 4 and any(len(r) == 12 for r in ours)  # stopped on the id, or ran the budget


def test_bad_stop_ids_are_refused():
    with pytest.raises(ValueError, match="stop_ids"):
        generate_ids(_llama(), PROMPTS, 4, stop_ids=[96])
    with pytest.raises(ValueError, match="stop_ids"):
        generate_ids(_llama(), PROMPTS, 4, stop_ids=["</s>"])


@pytest.mark.parametrize("beams", [1, 2])
def test_transformers_generate_takes_the_cache(beams):
    from critkl.generation import left_pad

    model = _llama()
    ids, mask, _ = left_pad(PROMPTS)
    kwargs = dict(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=10, pad_token_id=6,
                  num_beams=beams)
    expected = model.generate(**kwargs)
    ours = model.generate(**kwargs, cache=PreallocatedCache(model.config, ids.shape[1] + 10))
    assert torch.equal(ours, expected)
