"""A transformers encoder trained end to end with the head (the paper's setting)."""

from __future__ import annotations

import torch

from htc.encoders.pretrained import load_encoder


class FinetuneEncoder(torch.nn.Module):
    """Encoder whose pooled output feeds the head (BERT's pooler when present, else masked mean).

    ``forward(input_ids, attention_mask)`` → (batch, hidden).
    """

    kind = "finetune"

    def __init__(self, model: str | None = None, max_length: int = 256, pooling: str = "auto",
                 module=None, tokenizer=None) -> None:
        super().__init__()
        if module is None:
            module, tokenizer = load_encoder(model)
        self.model, self.tokenizer = module, tokenizer
        self.max_length = max_length
        has_pooler = getattr(module, "pooler", None) is not None
        self.pooling = ("pooler" if has_pooler else "mean") if pooling == "auto" else pooling
        self.dim = module.config.hidden_size

    def tokenize(self, texts):
        return self.tokenizer(list(texts), padding=True, truncation=True,
                              max_length=self.max_length, return_tensors="pt")

    def forward(self, input_ids, attention_mask, **kw):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        if self.pooling == "pooler":
            return out.pooler_output
        mask = attention_mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
        return (out.last_hidden_state * mask).sum(1) / mask.sum(1).clamp_min(1)
