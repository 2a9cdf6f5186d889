"""A lean KV-cached decoding step for transformers' ``GPT2LMHeadModel`` (inference only).

For a model as small as ``tiny`` (4 layers × 128), one decoding step through the transformers
module tree costs about 5 ms of Python and dispatch overhead for well under 1 ms of arithmetic.
:class:`GPT2Decoder` runs the same computation from the model's own weight tensors (no copies)
with a preallocated cache: about a dozen tensor operations per layer. Its logits equal the
transformers forward to float rounding (tested to 1e-5); models or settings it does not cover
(:func:`supports`) use the transformers path.

>>> from critkl import load_pretrained
>>> model, _ = load_pretrained("tiny-n3")
>>> supports(model)
True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_ACTS = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu": "none"}


def supports(model) -> bool:
    """Whether :class:`GPT2Decoder` reproduces this model's forward exactly."""
    from transformers import GPT2LMHeadModel

    c = getattr(model, "config", None)
    return (isinstance(model, GPT2LMHeadModel) and not model.training
            and c.activation_function in _ACTS and not c.add_cross_attention
            and c.scale_attn_weights and not c.scale_attn_by_inverse_layer_idx
            and not c.reorder_and_upcast_attn
            and getattr(c, "_attn_implementation", "sdpa") in ("sdpa", "eager", None)
            and next(model.parameters()).dtype == torch.float32)


class GPT2Decoder:
    """Prefill a left-padded batch, then decode one token per call; rows can leave the batch."""

    def __init__(self, model) -> None:
        if not supports(model):
            raise ValueError("GPT2Decoder needs an eval-mode float32 GPT2LMHeadModel with "
                             "standard attention settings")
        c = model.config
        t = model.transformer
        self.n_head, self.eps = c.n_head, c.layer_norm_epsilon
        self.approx = _ACTS[c.activation_function]
        self.wte, self.wpe = t.wte.weight, t.wpe.weight
        self.lm_head = model.lm_head.weight
        self.ln_f = (t.ln_f.weight, t.ln_f.bias)
        self.blocks = [(b.ln_1.weight, b.ln_1.bias, b.attn.c_attn.weight, b.attn.c_attn.bias,
                        b.attn.c_proj.weight, b.attn.c_proj.bias, b.ln_2.weight, b.ln_2.bias,
                        b.mlp.c_fc.weight, b.mlp.c_fc.bias, b.mlp.c_proj.weight, b.mlp.c_proj.bias)
                       for b in t.h]
        self.k = self.v = self.valid = None
        self._spare: tuple[torch.Tensor, ...] | None = None
        self.length = 0

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, H, T, d)
        b, s, c = x.shape
        return x.view(b, s, self.n_head, c // self.n_head).transpose(1, 2)

    def _run(self, x: torch.Tensor, attn_mask: torch.Tensor, start: int = 0,
             slot: torch.Tensor | None = None) -> torch.Tensor:
        """The blocks over ``x`` (B, S, C), caching keys/values from ``start`` and attending to the
        cache up to there. With ``slot`` (a (1,) device tensor, S = 1) the write goes to that slot
        and attention spans the whole cache: fixed shapes (see :mod:`critkl.static_decoding`)."""
        s = x.shape[1]
        c = x.shape[-1]
        scale = 1.0 / math.sqrt(c // self.n_head)
        for i, (l1w, l1b, aw, ab, pw, pb, l2w, l2b, fw, fb, mw, mb) in enumerate(self.blocks):
            h = F.layer_norm(x, (c,), l1w, l1b, self.eps)
            q, k, v = torch.addmm(ab, h.view(-1, c), aw).view(x.shape[0], s, 3 * c).split(c, dim=2)
            if slot is None:
                self.k[:, i, :, start:start + s] = self._heads(k)
                self.v[:, i, :, start:start + s] = self._heads(v)
                keys, values = self.k[:, i, :, :start + s], self.v[:, i, :, :start + s]
            else:
                self.k[:, i].index_copy_(2, slot, self._heads(k))
                self.v[:, i].index_copy_(2, slot, self._heads(v))
                keys, values = self.k[:, i], self.v[:, i]
            a = F.scaled_dot_product_attention(self._heads(q), keys, values, attn_mask=attn_mask,
                                               scale=scale)
            a = a.transpose(1, 2).reshape(-1, c)
            x = x + torch.addmm(pb, a, pw).view_as(x)
            h = F.layer_norm(x, (c,), l2w, l2b, self.eps)
            h = F.gelu(torch.addmm(fb, h.view(-1, c), fw), approximate=self.approx)
            x = x + torch.addmm(mb, h, mw).view_as(x)
        return F.layer_norm(x[:, -1], (c,), *self.ln_f, self.eps) @ self.lm_head.T

    @torch.no_grad()
    def prefill(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor,
                max_len: int, zero_cache: bool = True) -> torch.Tensor:
        """Run the prompts (``(B, W)``, left-padded, ``mask`` 1 on real tokens); returns the last
        position's logits ``(B, V)``. The cache holds ``max_len`` positions in all.

        ``zero_cache=False`` leaves the unwritten slots uninitialised: enough for :meth:`step`, which
        reads only written slots, and it spares zeroing (and, on a CPU, faulting in) a cache that can
        reach hundreds of MB. :meth:`step_static` reads every slot and needs the default."""
        b, w = ids.shape
        c = self.wte.shape[1]
        d = c // self.n_head
        # batch first, so that the rows still decoding are a contiguous prefix of a buffer (see keep)
        new = ids.new_zeros if zero_cache else ids.new_empty
        self.k = new((b, len(self.blocks), self.n_head, max_len, d), dtype=self.wte.dtype)
        self.v = new((b, len(self.blocks), self.n_head, max_len, d), dtype=self.wte.dtype)
        self.valid = torch.zeros((b, max_len), dtype=torch.bool, device=ids.device)
        self._spare = None
        self.valid[:, :w] = mask.bool()
        causal = torch.ones((w, w), dtype=torch.bool, device=ids.device).tril()
        attn = causal[None, None] & self.valid[:, None, None, :w]
        # a fully padded query row would attend to nothing: let it see itself (its output is unused)
        attn = attn | torch.eye(w, dtype=torch.bool, device=ids.device)[None, None]
        x = self.wte[ids] + self.wpe[positions]
        self.length = w
        return self._run(x, attn, 0)

    @torch.no_grad()
    def step(self, token: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Append one token per row (``(B,)`` ids at ``(B,)`` positions); returns ``(B, V)`` logits."""
        if self.length >= self.k.shape[3]:
            raise ValueError(f"GPT2Decoder: cache of {self.k.shape[3]} positions is full")
        self.valid[:, self.length] = True
        x = (self.wte[token] + self.wpe[position])[:, None]
        attn = self.valid[:, None, None, :self.length + 1]
        logits = self._run(x, attn, self.length)
        self.length += 1
        return logits

    @torch.no_grad()
    def step_static(self, token: torch.Tensor, position: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
        """Like :meth:`step`, but the write goes to cache ``slot`` (a ``(1,)`` device tensor) and
        attention spans the whole cache under the validity mask: every call has the same shapes,
        so it can be captured as a CUDA graph (:mod:`critkl.static_decoding`)."""
        self.valid.index_fill_(1, slot, True)
        x = (self.wte[token] + self.wpe[position])[:, None]
        return self._run(x, self.valid[:, None, None, :], slot=slot)

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only these batch rows (indices into the current batch).

        The kept rows are gathered into the first rows of a second buffer of the full size, allocated
        once; the two buffers then swap roles. Allocating a fresh cache each time rows finish would
        hand the allocator a block of hundreds of MB per finishing step, which it maps from and
        returns to the operating system every time.
        """
        n = rows.numel()
        if self._spare is None:
            self._spare = (torch.empty_like(self.k), torch.empty_like(self.v), torch.empty_like(self.valid))
        full = tuple(t._base if t._base is not None else t for t in (self.k, self.v, self.valid))
        spare = self._spare
        self.k = torch.index_select(self.k, 0, rows, out=spare[0][:n])
        self.v = torch.index_select(self.v, 0, rows, out=spare[1][:n])
        self.valid = torch.index_select(self.valid, 0, rows, out=spare[2][:n])
        self._spare = full
