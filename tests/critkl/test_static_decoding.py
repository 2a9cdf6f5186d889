"""Fixed-shape decoding: same greedy outputs as the dynamic loop, consistent log-probs, clear errors."""

import numpy as np
import pytest
import torch

from critkl.arithmetic import Problem, sample_rl
from critkl.generation import continuation_budget, generate_ids
from critkl.model import build_model, load_pretrained
from critkl.rollout import pack, sequence_logprobs
from critkl.static_decoding import generate_static
from critkl.tokenizer import encode


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return load_pretrained("tiny-n3")[0]


def _problems(n=12):
    rng = np.random.default_rng(4)
    return [sample_rl(3, 1, rng) if i % 3 == 0 else sample_rl(2, 1, rng) for i in range(n)] + [Problem(7, 5)]


def test_greedy_equals_the_dynamic_loop(tiny):
    problems = _problems()
    prompts = [encode(p.prompt) for p in problems]
    limits = [continuation_budget(p) for p in problems]
    limits[1] = 9  # one row stops on its budget
    assert generate_static(tiny, prompts, limits, sync_every=5) == generate_ids(tiny, prompts, limits)


def test_sampled_logprobs_match_a_teacher_forced_forward(tiny):
    problems = _problems(8)
    prompts = [encode(p.prompt) for p in problems]
    limits = [continuation_budget(p) for p in problems]
    tokens, logps = generate_static(tiny, prompts, limits, temperature=1.5,
                                    generator=torch.Generator().manual_seed(0), return_logprobs=True)
    assert all(len(t) == len(lp) and 0 < len(t) <= m for t, lp, m in zip(tokens, logps, limits, strict=True))
    ro = pack(problems, tokens, logps, temperature=1.5)
    with torch.no_grad():
        forward = sequence_logprobs(tiny, ro)
    assert torch.allclose(forward, ro.logprobs, atol=1e-4)


def test_random_model_stops_on_budget_and_bad_arguments():
    model = build_model("tiny", 1, seed=1).eval()
    out = generate_static(model, [[5, 6, 7], [8]], [3, 5])
    assert all(1 <= len(x) <= m for x, m in zip(out, [3, 5], strict=True))
    with pytest.raises(ValueError, match="temperature"):
        generate_static(model, [[5]], 3, temperature=-1.0)
    with pytest.raises(ValueError, match="sync_every"):
        generate_static(model, [[5]], 3, sync_every=0)
    with pytest.raises(ValueError, match="cuda_graph"):
        generate_static(model, [[5]], 3, cuda_graph=True)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_static(model, [[5], [6]], [3])
    assert generate_static(model, [], 3) == []
