"""Rollouts: batched KV-cached sampling, rewards, and one-forward log-probs vs token-by-token ones."""

import numpy as np
import pytest
import torch

from critkl.arithmetic import Problem, is_correct, target
from critkl.rollout import pack, sample_continuations, sample_episodes, sequence_logprobs
from critkl.tokenizer import decode, encode


def _token_by_token(lm, problem, continuation, temperature):
    """The official structure: one full-prefix forward per generated token."""
    ids = encode(problem.prompt) + list(continuation)
    out = []
    with torch.no_grad():
        for t in range(len(encode(problem.prompt)), len(ids)):
            z = lm(input_ids=torch.tensor([ids[:t]])).logits[0, -1]
            out.append(float(torch.log_softmax(z.double() / temperature, -1)[ids[t]]))
    return out


PROBLEMS = [Problem(57, 8), Problem(1234, 5), Problem(3, 4), Problem(999, 999)]


def test_one_forward_logprobs_equal_token_by_token(random_tiny):
    prompts = [encode(p.prompt) for p in PROBLEMS]
    tokens, logps = sample_continuations(random_tiny, prompts, [30, 7, 19, 24], 2.0,
                                         torch.Generator().manual_seed(0))
    ro = pack(PROBLEMS, tokens, logps, temperature=2.0)
    with torch.no_grad():
        one = sequence_logprobs(random_tiny, ro)
    for i, p in enumerate(PROBLEMS):
        cont = ro.ids[i][ro.action_mask[i].nonzero().squeeze(-1) + 1].tolist()
        ref = _token_by_token(random_tiny, p, cont, 2.0)
        got = one[i][ro.action_mask[i]].tolist()
        np.testing.assert_allclose(got, ref, atol=1e-5)
        # and the sampler's incremental (KV-cached) log-probs agree too
        np.testing.assert_allclose(ro.logprobs[i][ro.action_mask[i]].tolist(), ref, atol=1e-5)


def test_sampling_is_seeded_and_rewards_follow_the_check(random_tiny):
    lm = random_tiny
    probs = [Problem(57, 8), Problem(12, 5), Problem(3, 4)]
    a = sample_episodes(lm, probs, 2.0, torch.Generator().manual_seed(3))
    b = sample_episodes(lm, probs, 2.0, torch.Generator().manual_seed(3))
    assert torch.equal(a.ids, b.ids)
    assert a.rewards.sum(-1).tolist() == [1.0 if c else -1.0 for c in a.correct.tolist()]
    assert (a.rewards != 0).sum().item() == len(probs)  # one terminal reward per episode


def test_pack_places_terminal_reward_and_masks():
    probs = [Problem(57, 8), Problem(1, 2)]
    conts = [encode(target(57, 8)), encode("\nxx%")]
    ro = pack(probs, conts, reward_correct=1.0, reward_wrong=0.0)
    assert ro.correct.tolist() == [True, False]
    for i, c in enumerate(conts):
        steps = ro.action_mask[i].nonzero().squeeze(-1)
        assert len(steps) == len(c)
        assert decode(ro.ids[i, steps + 1].tolist()) == decode(c)
        assert float(ro.rewards[i, steps[-1]]) == (1.0 if i == 0 else 0.0)
        assert is_correct(ro.texts[i], probs[i].a, probs[i].b) == (i == 0)
    sub = ro.select([1])
    assert sub.ids.shape[1] == len(encode(probs[1].prompt)) + len(conts[1])
    assert decode(sub.ids[0, sub.action_mask[0].nonzero().squeeze(-1) + 1].tolist()) == "\nxx%"


def test_bad_inputs():
    with pytest.raises(ValueError, match="continuations"):
        pack([Problem(1, 2)], [[]])
    with pytest.raises(ValueError, match="problems"):
        pack([], [])


def test_prefix_reward_gives_partial_credit_below_any_correct_answer():
    from critkl import Problem
    from critkl.rollout import pack
    from critkl.tokenizer import encode

    p = Problem(57, 8)
    good, half = p.target, p.target.split("[5] + []")[0] + "junk\n"
    ro = pack([p, p, p], [encode(good), encode(half), encode("x\n")], reward_mode="prefix",
              reward_correct=1.0, reward_wrong=-1.0)
    r = ro.rewards.sum(-1).tolist()
    assert r[0] == 1.0 and -1.0 < r[1] < 0.0 and r[2] == -1.0
    cut = len(p.target.split("[5] + []")[0])
    assert r[1] == pytest.approx(-1.0 + 2 * 0.5 * cut / len(p.target))
    outcome = pack([p, p], [encode(good), encode(half)]).rewards.sum(-1).tolist()
    assert outcome == [1.0, -1.0]
    with pytest.raises(ValueError, match="reward_mode must be one of"):
        pack([p], [encode(good)], reward_mode="dense")
