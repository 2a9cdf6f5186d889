"""Episodes for RL: batched KV-cached sampling, terminal rewards, one-forward log-probs.

An episode is ``prompt + continuation``; every generated token is one action (the paper's MDP).
A batch of episodes is stored as one (B, L) id tensor: prompts left-padded with ``'%'``
to a common width ``P``, continuations right-padded after them. Per-step tensors have
shape (B, L-1): step ``t`` is the prediction of ``ids[:, t+1]`` from the prefix ``ids[:, :t+1]``,
so the logits of a whole trajectory come from **one** forward pass:

    log π(a_t | s_t) = log_softmax(z(ids)[:, t] / T)[ids[:, t+1]].

>>> model, _ = load_pretrained("tiny-n3")  # doctest: +SKIP
>>> ro = sample_episodes(model, [Problem(1234, 5)], temperature=2.0, generator=torch.Generator())  # doctest: +SKIP
>>> ro.rewards.sum().item() in (1.0, -1.0)  # doctest: +SKIP
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .arithmetic import Problem, correct_prefix_fraction, is_correct
from .generation import PAD_ID, ContextTooLongError, continuation_budget, generate_ids
from .tokenizer import decode, encode


@dataclass
class Rollout:
    """A batch of finished episodes.

    ``ids``/``attention_mask``: (B, L); ``action_mask``, ``logprobs`` (sampling policy at its
    temperature), ``rewards``: (B, L-1), aligned so that step t predicts ``ids[:, t+1]``.
    """

    problems: list[Problem]
    ids: torch.Tensor
    attention_mask: torch.Tensor
    action_mask: torch.Tensor
    logprobs: torch.Tensor
    rewards: torch.Tensor
    correct: torch.Tensor
    texts: list[str]
    prompt_width: int
    temperature: float

    @property
    def lengths(self) -> torch.Tensor:
        """Actions (generated tokens) per episode."""
        return self.action_mask.sum(-1)

    def select(self, index: torch.Tensor | Sequence[int]) -> Rollout:
        """The sub-batch of episodes ``index`` (trimmed to its longest episode)."""
        idx = torch.as_tensor(index, dtype=torch.long)
        if idx.numel() == 0:
            raise ValueError("index must select at least one episode")
        used = (self.attention_mask[idx].sum(0) > 0).nonzero().squeeze(-1)
        start, last = int(used[0]), int(used[-1]) + 1
        return Rollout(
            problems=[self.problems[i] for i in idx.tolist()],
            ids=self.ids[idx, start:last], attention_mask=self.attention_mask[idx, start:last],
            action_mask=self.action_mask[idx, start : last - 1], logprobs=self.logprobs[idx, start : last - 1],
            rewards=self.rewards[idx, start : last - 1], correct=self.correct[idx],
            texts=[self.texts[i] for i in idx.tolist()], prompt_width=self.prompt_width - start,
            temperature=self.temperature,
        )


def positions_of(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids counting real tokens only (left padding is invisible)."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def episode_limits(problems: Sequence[Problem], prompts: Sequence[Sequence[int]], n_ctx: int) -> list[int]:
    """Per-episode action budget: all-9s continuation + 100 (official rule), capped by the context."""
    limits = []
    for i, (p, ids) in enumerate(zip(problems, prompts, strict=True)):
        if len(ids) + len(p.target) > n_ctx:
            raise ContextTooLongError(
                f"problems[{i}] ({p.a}+{p.b}): prompt + scratchpad need {len(ids) + len(p.target)} "
                f"tokens, more than the model's context of {n_ctx}"
            )
        limits.append(min(continuation_budget(p), n_ctx - len(ids)))
    return limits


DECODINGS = ("dynamic", "static", "cuda_graph")


def sample_continuations(lm, prompts: Sequence[Sequence[int]], limits: Sequence[int], temperature: float,
                         generator: torch.Generator | None,
                         decoding: str = "dynamic") -> tuple[list[list[int]], list[list[float]]]:
    """KV-cached batched sampling from ``softmax(z / temperature)``; returns ids and their log-probs.

    Stops a row on the authors' official code's rules ('\\n' after ``</scratch>\\n``, pad token, budget).
    ``decoding="dynamic"``: finished rows leave the batch and the cache (the loop of
    :func:`generation.generate_ids`, best on CPU); ``"static"`` / ``"cuda_graph"``: fixed shapes,
    the loop on the device (:func:`critkl.static_decoding.generate_static`, for GPUs).
    """
    if decoding not in DECODINGS:
        raise ValueError(f"decoding must be one of {DECODINGS}, got {decoding!r}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be > 0 and finite for sampling, got {temperature}")
    if len(prompts) == 0:
        return [], []
    if decoding != "dynamic":
        from .static_decoding import generate_static

        return generate_static(lm, prompts, list(limits), temperature=temperature, generator=generator,
                               return_logprobs=True, cuda_graph=decoding == "cuda_graph")
    return generate_ids(lm, prompts, list(limits), temperature=temperature, generator=generator,
                        return_logprobs=True)


REWARD_MODES = ("outcome", "prefix")


def pack(problems: Sequence[Problem], continuations: Sequence[Sequence[int]],
         logprobs: Sequence[Sequence[float]] | None = None, temperature: float = 1.0,
         reward_correct: float = 1.0, reward_wrong: float = -1.0,
         reward_mode: str = "outcome") -> Rollout:
    """Build a :class:`Rollout` from problems and their generated token ids.

    The reward (paper: sparse success reward) is 0 on every step and, on the last action, ``reward_correct``
    if the result line is exactly right, else ``reward_wrong`` (official training: +1/−1;
    evaluation and the paper: 1/0). ``reward_mode="prefix"`` (not the paper's: a dense aid for
    models with no N+1 success at all) gives a wrong answer ``reward_wrong + (reward_correct −
    reward_wrong) · f / 2`` instead, ``f`` = :func:`critkl.arithmetic.correct_prefix_fraction`,
    so a right answer always earns more than any wrong one.
    """
    if reward_mode not in REWARD_MODES:
        raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
    if len(problems) != len(continuations) or len(problems) == 0:
        raise ValueError("problems and continuations must be non-empty and of equal length")
    prompts = [encode(p.prompt) for p in problems]
    if any(len(c) == 0 for c in continuations):
        raise ValueError("continuations: every episode needs at least one action")
    p_w = max(len(p) for p in prompts)
    g_w = max(len(c) for c in continuations)
    b, length = len(problems), p_w + g_w
    ids = torch.full((b, length), PAD_ID, dtype=torch.long)
    attn = torch.zeros((b, length), dtype=torch.long)
    amask = torch.zeros((b, length - 1), dtype=torch.bool)
    lps = torch.zeros((b, length - 1))
    rewards = torch.zeros((b, length - 1))
    texts, correct = [], []
    for i, (prob, pr, cont) in enumerate(zip(problems, prompts, continuations, strict=True)):
        n = len(cont)
        ids[i, p_w - len(pr): p_w] = torch.tensor(pr)
        ids[i, p_w: p_w + n] = torch.tensor(list(cont))
        attn[i, p_w - len(pr): p_w + n] = 1
        amask[i, p_w - 1: p_w - 1 + n] = True
        if logprobs is not None:
            lps[i, p_w - 1: p_w - 1 + n] = torch.tensor(list(logprobs[i]))
        text = decode(list(cont))
        ok = is_correct(text, prob.a, prob.b)
        if ok:
            r = reward_correct
        elif reward_mode == "prefix":
            r = reward_wrong + (reward_correct - reward_wrong) * 0.5 * correct_prefix_fraction(
                text, prob.a, prob.b)
        else:
            r = reward_wrong
        rewards[i, p_w - 2 + n] = r
        texts.append(text)
        correct.append(ok)
    return Rollout(list(problems), ids, attn, amask, lps, rewards, torch.tensor(correct), texts, p_w,
                   temperature)


def gold_episodes(problems: Sequence[Problem], temperature: float = 1.0) -> Rollout:
    """The gold scratchpad continuation of each problem, packed as a rollout (for teacher-forced
    log-probs with :func:`sequence_logprobs`, or supervised steps).

    >>> gold_episodes([Problem(57, 8)]).correct.tolist()
    [True]
    """
    return pack(problems, [encode(p.target) for p in problems], temperature=temperature)


def sample_episodes(lm, problems: Sequence[Problem], temperature: float = 2.0,
                    generator: torch.Generator | None = None, reward_correct: float = 1.0,
                    reward_wrong: float = -1.0, reward_mode: str = "outcome",
                    decoding: str = "dynamic") -> Rollout:
    """Sample one episode per problem (batched, KV cache) and score it (``decoding``: see
    :func:`sample_continuations`).

    >>> ro = sample_episodes(model, [Problem(57, 8)], 2.0, torch.Generator().manual_seed(0))  # doctest: +SKIP
    """
    if len(problems) == 0:
        raise ValueError("problems must be non-empty")
    prompts = [encode(p.prompt) for p in problems]
    limits = episode_limits(problems, prompts, lm.config.n_positions)
    tokens, logps = sample_continuations(lm, prompts, limits, temperature, generator, decoding)
    return pack(problems, tokens, logps, temperature, reward_correct, reward_wrong, reward_mode)


def step_logits(logits: torch.Tensor) -> torch.Tensor:
    """(B, L, V) logits of a trajectory forward → the (B, L-1, V) logits of each step."""
    return logits[:, :-1]


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``log softmax(z_t / T)[ids_{t+1}]`` for every step t, from one (B, L, V) forward's logits."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logp = torch.log_softmax(step_logits(logits).float() / temperature, dim=-1)
    return logp.gather(-1, ids[:, 1:, None]).squeeze(-1)


def trajectory_logits(lm, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Logits at every position of a batch of trajectories: one forward pass."""
    return lm(input_ids=ids, attention_mask=attention_mask, position_ids=positions_of(attention_mask)).logits


def sequence_logprobs(lm, rollout: Rollout, temperature: float | None = None) -> torch.Tensor:
    """Per-step log-probs of the taken actions under ``lm`` (one forward; 0 off the action mask)."""
    t = rollout.temperature if temperature is None else temperature
    logits = trajectory_logits(lm, rollout.ids, rollout.attention_mask)
    return token_logprobs(logits, rollout.ids, t) * rollout.action_mask
