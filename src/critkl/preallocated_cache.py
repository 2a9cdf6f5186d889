"""A key/value cache for any Hugging Face causal LM that writes in place instead of concatenating.

transformers' default ``DynamicCache`` grows each layer's keys and values with ``torch.cat`` at every
decoding step: the whole cache is copied once per token, and on a CPU each copy is a fresh allocation
of up to hundreds of MB. :class:`PreallocatedCache` is a ``DynamicCache`` whose layers own one buffer
of the final size: a step writes its new keys and values into the next slot and attention reads a
view of the filled prefix, so attention still spans only the tokens seen so far (unlike transformers'
``StaticCache``, which attends over the whole buffer every step). Dropping finished rows
(``batch_select_indices``) gathers the kept rows into a second buffer allocated once.

It plugs into transformers' cache interface (``Cache.update`` per layer), so it serves every model
whose default cache is made of plain full-attention layers; :func:`supports_preallocation` says
which (sliding-window, linear-attention and other special layers keep transformers' own cache).
:func:`critkl.generation.generate_ids` uses it by default for such models, and transformers'
``generate`` takes it too: ``model.generate(..., cache=PreallocatedCache(model.config, n))`` with
``n`` >= prompt width + ``max_new_tokens``.

>>> from critkl.model import build_model
>>> model = build_model("tiny", 3).eval()
>>> cache = PreallocatedCache(model.config, capacity=16)
>>> out = model(input_ids=torch.tensor([[5, 6, 7]]), cache=cache, use_cache=True)
>>> cache.get_seq_length()
3
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer


class PreallocatedLayer(DynamicLayer):
    """One layer's keys and values in a ``(batch, heads, capacity, head_dim)`` buffer, filled in place."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0
        self._full: tuple[torch.Tensor, torch.Tensor] | None = None
        self._spare: tuple[torch.Tensor, torch.Tensor] | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        b, h, _, dk = key_states.shape
        shape = (b, h, self.capacity)
        self._full = (key_states.new_empty(shape + (dk,)),
                      value_states.new_empty(shape + (value_states.shape[-1],)))
        self.keys, self.values = self._full[0][:, :, :0], self._full[1][:, :, :0]
        self.length = 0
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
               ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        s = key_states.shape[-2]
        end = self.length + s
        if end > self.capacity:
            raise ValueError(f"PreallocatedCache: {end} positions exceed its capacity of {self.capacity}")
        k, v = self._full
        n = key_states.shape[0]
        k[:n, :, self.length:end] = key_states
        v[:n, :, self.length:end] = value_states
        self.length = end
        self.keys, self.values = k[:n, :, :end], v[:n, :, :end]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length if self.is_initialized else 0

    def get_max_length(self) -> int:
        return self.capacity

    def reset(self) -> None:
        self.length = 0
        self._full = self._spare = None
        super().reset()

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove > 0:
            raise ValueError("crop takes a negative number of tokens to remove")
        if tokens_to_remove == 0 or not self.is_initialized:
            return
        self.length = max(self.length + tokens_to_remove, 0)
        self.keys, self.values = self.keys[:, :, :self.length], self.values[:, :, :self.length]

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.get_seq_length() > 0:  # before the prompt is in, the batch is still free to grow
            raise NotImplementedError("PreallocatedCache cannot grow its batch once filled; use DynamicCache")

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Reorder the rows (beam search), keeping them in the buffers."""
        self.batch_select_indices(beam_idx.to(self.device))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep only these rows, gathered into the first rows of a second buffer allocated once."""
        if not self.is_initialized:
            return
        n = indices.numel()
        if self._spare is None:
            self._spare = (torch.empty_like(self._full[0]), torch.empty_like(self._full[1]))
        (sk, sv), full = self._spare, self._full
        # the kept rows' filled prefix, gathered row by row into the spare buffer
        sk[:n, :, :self.length] = self.keys.index_select(0, indices)
        sv[:n, :, :self.length] = self.values.index_select(0, indices)
        self._full, self._spare = (sk, sv), full
        self.keys, self.values = sk[:n, :, :self.length], sv[:n, :, :self.length]


def _plain_layers(config) -> list | None:
    """The layers of transformers' default cache for ``config`` when all are plain full attention,
    else ``None`` (also when transformers cannot build a cache for it)."""
    try:
        layers = DynamicCache(config=config).layers
    except Exception:  # noqa: BLE001 - a config transformers cannot build a cache for: no fast path
        return None
    return layers if layers and all(type(layer) is DynamicLayer for layer in layers) else None


def supports_preallocation(config) -> bool:
    """Whether transformers' default cache for this config is made only of plain full-attention
    layers, which :class:`PreallocatedCache` replaces exactly.

    >>> from critkl.model import build_model
    >>> supports_preallocation(build_model("tiny", 3).config)
    True
    """
    return _plain_layers(config) is not None


class PreallocatedCache(DynamicCache):
    """A ``DynamicCache`` of :class:`PreallocatedLayer` s holding at most ``capacity`` positions.

    Raises ``ValueError`` for a model whose cache has other layer kinds (see
    :func:`supports_preallocation`)."""

    def __init__(self, config, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        layers = _plain_layers(config)
        if layers is None:
            raise ValueError(f"PreallocatedCache: {type(config).__name__} uses cache layers other than "
                             "plain full attention; use transformers' DynamicCache")
        Cache.__init__(self, layers=[PreallocatedLayer(capacity) for _ in layers])
