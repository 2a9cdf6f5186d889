"""Fixed-shape batched decoding for accelerators: a static KV cache, the whole loop on the device.

:func:`critkl.generation.generate_ids` drops finished rows from the batch and reads every token
back to the host: ideal on a CPU, where the work shrinks with the batch, but each step then has
a different shape and a host round trip, which is what keeps a GPU idle. Here every row stays in
the batch until all are done, the cache is preallocated at its final size, the write slot is a
device tensor and attention spans the whole cache under a validity mask. One decoding step thus
has the same shapes and buffers every time, so on CUDA it is captured once as a CUDA graph and
replayed (``cuda_graph=True``: one launch per token instead of ~15 per layer). The stop rules run
on the device; the host looks at the flags only every ``sync_every`` steps.

Greedy outputs equal :func:`~critkl.generation.generate_ids` exactly; sampled outputs come from
the same distribution (the random stream differs, because finished rows keep drawing).

>>> model, _ = load_pretrained("tiny-n3")  # doctest: +SKIP
>>> ids = generate_static(model, [encode(prompt(487, 56))], 300)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .fast_gpt2 import GPT2Decoder
from .generation import _CLOSE_IDS, NEWLINE_ID, PAD_ID, _pick, check_request, left_pad


def generate_static(
    model,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int | Sequence[int],
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
    return_logprobs: bool = False,
    cuda_graph: bool = False,
    sync_every: int = 16,
):
    """Same contract as :func:`critkl.generation.generate_ids`, with fixed shapes (see module doc).

    ``cuda_graph=True`` (CUDA models only) captures the decoding step once per call and replays
    it. ``sync_every`` is how many steps run between two host checks of "all done".

    >>> from critkl.model import build_model
    >>> out = generate_static(build_model("tiny", 1).eval(), [[5, 6, 7]], 4)
    >>> len(out[0]) <= 4
    True
    """
    if cuda_graph and next(model.parameters()).device.type != "cuda":
        raise ValueError("cuda_graph=True needs a model on a CUDA device")
    if sync_every < 1:
        raise ValueError(f"sync_every must be >= 1, got {sync_every}")
    limits = check_request(model, prompts, max_new_tokens, temperature)
    b = len(prompts)
    if b == 0:
        return ([], []) if return_logprobs else []
    if min(limits) < 1:
        raise ValueError("max_new_tokens: every prompt needs at least 1 new token")
    device = next(model.parameters()).device
    ids, mask, positions = left_pad(prompts, device)
    width, budget = ids.shape[1], max(limits)
    dec = GPT2Decoder(model)
    with torch.no_grad():
        logits = dec.prefill(ids, mask, positions, width + budget)
        pos = positions[:, -1] + 1
        step = _captured(dec, b, width, device) if cuda_graph else dec.step_static
        limit = torch.tensor(limits, device=device)
        out = torch.full((b, budget), PAD_ID, dtype=torch.long, device=device)
        lps = torch.zeros((b, budget), device=device)
        done = torch.zeros(b, dtype=torch.bool, device=device)
        length = torch.full((b,), budget, dtype=torch.long, device=device)
        close_ids = _CLOSE_IDS.to(device)
        tail = torch.full((b, len(close_ids)), -1, dtype=torch.long, device=device)
        closed = torch.zeros(b, dtype=torch.bool, device=device)
        scale = temperature if temperature > 0 else 1.0
        for t in range(budget):
            token = torch.where(done, PAD_ID, _pick(logits, temperature, generator))
            out[:, t] = token
            if return_logprobs:
                lps[:, t] = torch.log_softmax(logits.float() / scale, dim=-1).gather(-1, token[:, None])[:, 0]
            is_nl = token == NEWLINE_ID
            finish = ~done & ((is_nl & closed) | (token == PAD_ID) | (t + 1 >= limit))
            length = torch.where(finish, t + 1, length)
            done = done | finish
            closed = closed | (is_nl & (tail == close_ids).all(-1))
            tail = torch.cat([tail[:, 1:], token[:, None]], dim=1)
            if t + 1 == budget or ((t + 1) % sync_every == 0 and bool(done.all())):
                break
            logits = step(token, pos + t, torch.full((1,), width + t, dtype=torch.long, device=device))
    n = length.tolist()
    tokens = [row[:k] for row, k in zip(out.tolist(), n, strict=True)]
    if not return_logprobs:
        return tokens
    return tokens, [row[:k] for row, k in zip(lps.tolist(), n, strict=True)]


def _captured(dec: GPT2Decoder, b: int, width: int, device: torch.device):
    """``dec.step_static`` as a replayed CUDA graph with static input buffers.

    Warm-up runs write to slot ``width``, the first slot the real loop writes, so they leave
    nothing behind."""
    token = torch.full((b,), PAD_ID, dtype=torch.long, device=device)
    position = torch.zeros(b, dtype=torch.long, device=device)
    slot = torch.full((1,), width, dtype=torch.long, device=device)
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(2):
            dec.step_static(token, position, slot)
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        logits = dec.step_static(token, position, slot)

    def replay(t: torch.Tensor, p: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        token.copy_(t)
        position.copy_(p)
        slot.copy_(s)
        graph.replay()
        return logits

    return replay
