"""The lean GPT-2 decoding step equals the transformers forward."""

import torch

from critkl import Problem, build_model, load_pretrained
from critkl.fast_gpt2 import GPT2Decoder, supports
from critkl.generation import generate_ids
from critkl.tokenizer import encode


def _batch(problems):
    prompts = [encode(p.prompt) for p in problems]
    w = max(map(len, prompts))
    ids = torch.full((len(prompts), w), 6)
    mask = torch.zeros((len(prompts), w), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, w - len(p):] = torch.tensor(p)
        mask[i, w - len(p):] = 1
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


def test_lean_logits_equal_transformers_with_left_padding_and_dropped_rows():
    torch.manual_seed(0)
    model = build_model("tiny", 3, seed=1).eval()
    ids, mask, pos = _batch([Problem(1234, 56), Problem(1, 2), Problem(999, 999)])
    dec = GPT2Decoder(model)
    lean = dec.prefill(ids, mask, pos, ids.shape[1] + 12)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
    torch.testing.assert_close(lean, out.logits[:, -1], atol=1e-5, rtol=1e-5)
    past, token, npos = out.cache, out.logits[:, -1].argmax(-1), pos[:, -1] + 1
    for step in range(10):
        if step == 4:  # drop the middle row, as generation does for finished rows
            keep = torch.tensor([0, 2])
            dec.keep(keep)
            past.batch_select_indices(keep)
            mask, token, npos = mask[keep], token[keep], npos[keep]
        lean = dec.step(token, npos)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        with torch.no_grad():
            out = model(input_ids=token[:, None], attention_mask=mask, position_ids=npos[:, None],
                        cache=past, use_cache=True)
        torch.testing.assert_close(lean, out.logits[:, -1], atol=1e-5, rtol=1e-5)
        past, token, npos = out.cache, out.logits[:, -1].argmax(-1), npos + 1


def test_generation_is_the_same_with_and_without_the_fast_path():
    model, _ = load_pretrained("tiny-n3")
    prompts = [encode(p.prompt) for p in (Problem(487, 56), Problem(3, 9), Problem(1234, 5678))]
    for temperature in (0.0, 1.0):
        a = generate_ids(model, prompts, 60, temperature, torch.Generator().manual_seed(3),
                         return_logprobs=True)
        b = generate_ids(model, prompts, 60, temperature, torch.Generator().manual_seed(3),
                         return_logprobs=True, decoder="transformers")
        assert a[0] == b[0]
        for x, y in zip(a[1], b[1]):
            torch.testing.assert_close(torch.tensor(x), torch.tensor(y), atol=1e-4, rtol=1e-4)


def test_training_mode_falls_back_to_transformers():
    model = build_model("tiny", 3).train()
    assert not supports(model)
    assert supports(model.eval())
