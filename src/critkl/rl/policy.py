"""Actor-critic (official code): the LM (actor) and an MLP critic on its final hidden state, sharing the transformer."""

from __future__ import annotations

import torch
from torch import nn

from ..rollout import positions_of


class ActorCritic(nn.Module):
    """``V(s_t) = MLP(h_t)`` with ``h_t`` the post-``ln_f`` hidden state; value gradients reach the trunk.

    The official head is 768 → 128 → 128 → 1 (ReLU); ``hidden=0`` scales 128 by ``n_embd/768``.

    >>> ac = ActorCritic(build_model("tiny", 3))  # doctest: +SKIP
    >>> logits, values = ac(ids, attention_mask)  # (B, L, V), (B, L)  # doctest: +SKIP
    """

    def __init__(self, lm, hidden: int = 0) -> None:
        super().__init__()
        width = lm.config.n_embd
        hidden = hidden or max(8, round(128 * width / 768))
        self.lm = lm
        self.value_head = nn.Sequential(
            nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward pass over whole trajectories: logits (B, L, V) and values (B, L)."""
        h = self.lm.transformer(input_ids=ids, attention_mask=attention_mask,
                                position_ids=positions_of(attention_mask)).last_hidden_state
        return self.lm.lm_head(h), self.value_head(h).squeeze(-1)
