"""Batched, KV-cached greedy or sampled decoding of scratchpad continuations.

Prompts are left-padded with ``'%'``; padded keys are masked out and position ids
count real tokens only, so each row sees exactly what it would see alone. A row stops
(as in the authors' official code) when it emits ``'\\n'`` after ``</scratch>\\n``, when it emits the pad
token ``'%'``, or after ``max_new_tokens``. Finished rows are dropped from the batch
and from the KV cache.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .arithmetic import Problem
from .fast_gpt2 import GPT2Decoder, supports
from .preallocated_cache import PreallocatedCache, supports_preallocation
from .tokenizer import PAD, decode, encode

NEWLINE_ID = encode("\n")[0]
PAD_ID = encode(PAD)[0]
_CLOSE_IDS = torch.tensor(encode("</scratch>"))


class ContextTooLongError(ValueError):
    """A prompt plus its continuation does not fit the model's context."""


def scaled_logits(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature`` in float32, shifted so that the largest is 0 when ``temperature < 1``:
    the softmax is the same, and a tiny temperature cannot overflow the division to infinity (which
    would make the probabilities NaN). Temperatures >= 1 never overflow and keep the plain division.

    >>> scaled_logits(torch.tensor([[2.0, 1.0]]), 1e-300).softmax(-1).tolist()
    [[1.0, 0.0]]
    """
    z = logits.float()
    if temperature < 1.0:
        z = z - z.amax(-1, keepdim=True)
        # below float32's smallest normal number the temperature would round to 0 (0 / 0 = NaN)
        temperature = max(temperature, torch.finfo(z.dtype).tiny)
    return z / temperature


def _pick(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    if temperature == 0.0:
        return logits.argmax(-1)
    probs = torch.softmax(scaled_logits(logits, temperature), dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def continuation_budget(problem: Problem) -> int:
    """Tokens allowed for one problem: its all-9s continuation length + 100 (official rule)."""
    n = 10 ** problem.digits - 1
    return len(Problem(n, n).target) + 100


def model_context(model) -> int | None:
    """The most positions ``model`` can attend over (GPT-2's ``n_positions``, most other causal LMs'
    ``max_position_embeddings``), or ``None`` when its config names none.

    >>> from critkl.model import build_model
    >>> model_context(build_model("tiny", 3))
    480
    """
    config = model.config
    for name in ("n_positions", "max_position_embeddings"):
        n = getattr(config, name, None)
        if isinstance(n, int) and n > 0:
            return n
    return None


@torch.no_grad()
def check_request(model, prompts: Sequence[Sequence[int]], max_new_tokens: int | Sequence[int],
                  temperature: float) -> list[int]:
    """Validate a decoding request; returns one new-token limit per prompt.

    Raises ``ValueError`` naming the bad argument, or :class:`ContextTooLongError` naming the
    prompt that cannot fit the model's context."""
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be >= 0 and finite (0: greedy), got {temperature}")
    b = len(prompts)
    limits = [max_new_tokens] * b if isinstance(max_new_tokens, int) else list(max_new_tokens)
    if len(limits) != b:
        raise ValueError(f"max_new_tokens: got {len(limits)} limits for {b} prompts")
    n_ctx = model_context(model)
    for i, (p, m) in enumerate(zip(prompts, limits, strict=True)):
        if n_ctx is not None and len(p) + m > n_ctx:
            raise ContextTooLongError(
                f"prompts[{i}]: {len(p)} prompt tokens + {m} new tokens exceed the model's "
                f"context of {n_ctx}; the operands are too long for this model"
            )
    return limits


DECODERS = ("auto", "gpt2", "cache", "transformers")


def pick_decoder(model, decoder: str = "auto") -> str:
    """The decoding step :func:`generate_ids` uses for ``model``: ``"gpt2"``, ``"cache"`` or
    ``"transformers"``. ``"auto"`` picks the first that supports the model; naming one it does not
    support raises ``ValueError``.

    >>> from critkl.model import build_model
    >>> pick_decoder(build_model("tiny", 3).eval()), pick_decoder(build_model("tiny", 3).train())
    ('gpt2', 'cache')
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}; got {decoder!r}")
    if decoder in ("auto", "gpt2") and supports(model):
        return "gpt2"
    if decoder == "gpt2":
        raise ValueError("decoder='gpt2' needs an eval-mode float32 GPT2LMHeadModel with standard "
                         "attention settings; use decoder='auto'")
    if decoder in ("auto", "cache") and supports_preallocation(model.config):
        return "cache"
    if decoder == "cache":
        raise ValueError(f"decoder='cache': {type(model).__name__}'s cache is not plain full attention; "
                         "use decoder='auto'")
    return "transformers"


def left_pad(prompts: Sequence[Sequence[int]], device: torch.device | str = "cpu"
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(ids, mask, positions)`` of a left-padded prompt batch; positions count real tokens only.

    >>> ids, mask, pos = left_pad([[5, 6], [7]])
    >>> ids.tolist(), pos.tolist()
    ([[5, 6], [6, 7]], [[0, 1], [0, 0]])
    """
    b, width = len(prompts), max(len(p) for p in prompts)
    ids = torch.full((b, width), PAD_ID, dtype=torch.long)
    mask = torch.zeros((b, width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(list(p), dtype=torch.long)
        mask[i, width - len(p):] = 1
    ids, mask = ids.to(device), mask.to(device)
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def generate_ids(
    model,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int | Sequence[int],
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    return_logprobs: bool = False,
    decoder: str = "auto",
    stop_ids: Sequence[int] | None = None,
):
    """Generate continuations (token ids, stop token included) for a batch of prompts.

    ``temperature=0`` is greedy; otherwise sample from ``softmax(logits / temperature)``.
    ``max_new_tokens`` may be one int or one per prompt. With ``return_logprobs=True`` it returns
    ``(ids, logprobs)``: each chosen token's log-probability under ``softmax(logits / T)``
    (``T = 1`` when greedy), as the RL rollout needs. A row stops after ``max_new_tokens`` or, with
    ``stop_ids=None``, on the scratchpad rules (``'\\n'`` after ``</scratch>``, the pad ``'%'``);
    with ``stop_ids`` (e.g. ``[tokenizer.eos_token_id]`` for any other model), on any of those ids.

    ``decoder`` picks how each step runs (the logits agree to float rounding, tested):

    - ``"gpt2"``: :class:`critkl.fast_gpt2.GPT2Decoder`, a lean step for eval-mode float32 GPT-2;
    - ``"cache"``: the model's own transformers forward with a :class:`PreallocatedCache` (any causal
      LM whose cache is plain full attention: GPT-2, Llama, Qwen2, ...);
    - ``"transformers"``: the transformers forward with its default ``DynamicCache``;
    - ``"auto"`` (default): the first of these that supports the model.
    """
    b = len(prompts)
    limits = check_request(model, prompts, max_new_tokens, temperature)
    kind = pick_decoder(model, decoder)
    if stop_ids is not None:
        vocab = model.get_input_embeddings().num_embeddings
        stop_ids = list(stop_ids)
        bad = [t for t in stop_ids if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < vocab]
        if bad:
            raise ValueError(f"stop_ids must be token ids in [0, {vocab}); got {bad[0]!r}")
    if b == 0:
        return []
    device = next(model.parameters()).device
    ids, mask, positions = left_pad(prompts, device)
    width = ids.shape[1]
    lean = GPT2Decoder(model) if kind == "gpt2" else None
    if lean is not None:
        past, logits = None, lean.prefill(ids, mask, positions, width + max(limits), zero_cache=False)
    else:
        cache = PreallocatedCache(model.config, width + max(limits)) if kind == "cache" else None
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True)
        past, logits = out.cache, out.logits[:, -1]
    next_pos = positions[:, -1] + 1

    rows = torch.arange(b, device=device)  # original index of each live row
    limit = torch.tensor(limits, device=device)
    generated: list[list[int]] = [[] for _ in range(b)]
    logprobs: list[list[float]] = [[] for _ in range(b)]
    scale = temperature if temperature > 0 else 1.0
    tail = torch.full((b, len(_CLOSE_IDS)), -1, dtype=torch.long, device=device)
    closed = torch.zeros(b, dtype=torch.bool, device=device)
    close_ids = _CLOSE_IDS.to(device)
    stops = None if stop_ids is None else torch.tensor(stop_ids, dtype=torch.long, device=device)
    steps = 0
    while True:
        token = _pick(logits, temperature, generator)
        steps += 1
        for r, t in zip(rows.tolist(), token.tolist(), strict=True):
            generated[r].append(t)
        if return_logprobs:
            lp = torch.log_softmax(scaled_logits(logits, scale), dim=-1).gather(-1, token[:, None])
            for r, v in zip(rows.tolist(), lp.squeeze(-1).tolist(), strict=True):
                logprobs[r].append(v)
        if stops is None:
            is_nl = token == NEWLINE_ID
            done = (is_nl & closed) | (token == PAD_ID) | (steps >= limit)
            closed = closed | (is_nl & (tail == close_ids).all(-1))
            tail = torch.cat([tail[:, 1:], token[:, None]], dim=1)
        else:
            done = torch.isin(token, stops) | (steps >= limit)
        if bool(done.all()):
            break
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(-1)
            if lean is not None:
                lean.keep(keep)
            else:
                past.batch_select_indices(keep)
            rows, limit, tail, closed = rows[keep], limit[keep], tail[keep], closed[keep]
            mask, next_pos, token = mask[keep], next_pos[keep], token[keep]
        if lean is not None:
            logits = lean.step(token, next_pos)
            next_pos = next_pos + 1
            continue
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(
            input_ids=token[:, None],
            attention_mask=mask,
            position_ids=next_pos[:, None],
            cache=past,
            use_cache=True,
        )
        past, logits = out.cache, out.logits[:, -1]
        next_pos = next_pos + 1
    return (generated, logprobs) if return_logprobs else generated


def generate(
    model,
    problems: Sequence[Problem],
    temperature: float = 0.0,
    batch_size: int = 64,
    seed: int = 0,
    max_new_tokens: int | None = None,
    decoder: str = "auto",
    progress=None,
) -> list[str]:
    """Continuations (text after the prompt) for a list of problems, in order.

    ``max_new_tokens`` defaults to each problem's all-9s continuation length + 100,
    capped by the context; a problem whose own continuation cannot fit raises
    :class:`ContextTooLongError`. ``progress(n)`` is called after each batch with its ``n`` problems.
    ``decoder`` is :func:`generate_ids`'s (default: the fastest the model supports).

    >>> model, _ = load_pretrained("tiny-n3")  # doctest: +SKIP
    >>> generate(model, [Problem(57, 8)])[0].endswith("6 5\\n")  # doctest: +SKIP
    True
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 and an int, got {batch_size!r}")
    if not isinstance(temperature, (int, float)) or not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be >= 0 and finite (0: greedy), got {temperature!r}")
    n_ctx = model_context(model)
    prompts = [encode(p.prompt) for p in problems]
    limits = []
    for i, (p, ids) in enumerate(zip(problems, prompts, strict=True)):
        need = len(ids) + len(p.target)
        if n_ctx is not None and need > n_ctx:
            raise ContextTooLongError(
                f"problems[{i}] ({p.a}+{p.b}): prompt + scratchpad need {need} tokens, more than "
                f"the model's context of {n_ctx}; the operands are too long for this model"
            )
        budget = continuation_budget(p) if max_new_tokens is None else max_new_tokens
        limits.append(budget if n_ctx is None else min(budget, n_ctx - len(ids)))
    generator = torch.Generator().manual_seed(seed)
    # sort by prompt length so batches are nearly pad-free, then restore the order
    order = sorted(range(len(problems)), key=lambda i: len(prompts[i]))
    texts: list[str] = [""] * len(problems)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        outs = generate_ids(
            model, [prompts[i] for i in idx], [limits[i] for i in idx], temperature, generator,
            decoder=decoder,
        )
        for i, o in zip(idx, outs, strict=True):
            texts[i] = decode(o)
        if progress is not None:
            progress(len(idx))
    return texts
