"""Batched KV-cached decoding against a brute-force recompute-the-prefix reference."""

import pytest
import torch

from critkl.arithmetic import Problem, eval_set, sample_pretrain
from critkl.generation import ContextTooLongError, generate, generate_ids
from critkl.tokenizer import encode


@torch.no_grad()
def _greedy_recompute(model, ids: list[int], n: int) -> list[int]:
    out = list(ids)
    for _ in range(n):
        out.append(int(model(torch.tensor([out])).logits[0, -1].argmax()))
    return out[len(ids):]


def test_batched_left_padded_greedy_equals_unbatched_recompute(random_tiny):
    import numpy as np

    rng = np.random.default_rng(0)
    problems = [sample_pretrain(3, rng) for _ in range(6)]
    prompts = [encode(p.prompt) for p in problems]
    assert len({len(p) for p in prompts}) > 1  # really padded
    batched = generate_ids(random_tiny, prompts, max_new_tokens=12)
    for p, out in zip(prompts, batched, strict=True):
        ref = _greedy_recompute(random_tiny, p, len(out))
        assert out == ref
        assert len(out) <= 12


def test_sampling_is_reproducible_with_seed(random_tiny):
    problems = eval_set(2, "varying", size=5)
    a = generate(random_tiny, problems, temperature=1.0, seed=3, max_new_tokens=20)
    b = generate(random_tiny, problems, temperature=1.0, seed=3, max_new_tokens=20)
    assert a == b


def test_operands_too_long_for_context(random_tiny):
    with pytest.raises(ContextTooLongError, match=r"problems\[1\].*too long for this model"):
        generate(random_tiny, [Problem(1, 2), Problem(10**40, 1)])
    with pytest.raises(ContextTooLongError, match="exceed the model's context of 480"):
        generate_ids(random_tiny, [encode("1+1")], max_new_tokens=1000)


def test_bad_arguments(random_tiny):
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        generate_ids(random_tiny, [encode("1")], 3, temperature=-1.0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        generate(random_tiny, [Problem(1, 2)], batch_size=0)


def test_pretrained_outputs_stop_after_the_result_line(tiny_n3):
    model, _ = tiny_n3
    problems = eval_set(3, "identical", size=8)
    for p, text in zip(problems, generate(model, problems), strict=True):
        assert text.startswith("\n<scratch>\n[") and p.prompt.endswith("Target:")
        assert text.count("</scratch>\n") == 1
        assert text.endswith("\n") and text.split("</scratch>\n")[1].count("\n") == 1
