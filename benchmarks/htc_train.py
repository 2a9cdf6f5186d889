"""Fine-tuning throughput: our full training step vs the raw encoder's forward+backward.

Both run on the same batches of HWV training texts (same tokenizer, length and batch size):

- **raw**: ``encoder(**batch).last_hidden_state`` → mean → ``backward()`` (no head, no loss, no
  optimiser) — the ceiling for any fine-tuning loop;
- **ours**: ``Trainer.train_step`` — tokenisation, encoder, the paper's head, the loss,
  backward, gradient clipping, AdamW and the LR schedule.

Target (GPU): ours ≥ 90% of raw. On a GPU both use bf16 autocast.

Run: ``.venv/bin/python benchmarks/htc_train.py [--loss conditional_softmax] [--batch-size 32]
[--max-length 256] [--steps 30]``; on a CPU add ``--steps 3 --max-length 64`` for a smoke run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from htc.datasets import load_hwv
from htc.training import TrainConfig, Trainer


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--loss", default="conditional_softmax")
    ap.add_argument("--model", default=None, help="encoder folder (default: MiniLM)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    console = Console()
    hwv = load_hwv()
    cfg = TrainConfig(loss=args.loss, encoder="finetune", model=args.model,
                      batch_size=args.batch_size, max_length=args.max_length)
    trainer = Trainer(cfg, hwv.taxonomy, progress=False)
    trainer._seed()
    trainer._build(hwv.train)
    trainer._make_model(trainer._in_dim)
    device = trainer.device
    texts = hwv.train.texts
    y = torch.from_numpy(hwv.train.y.toarray().astype(np.float32))
    rng = np.random.default_rng(0)
    batches = [rng.choice(len(texts), args.batch_size, replace=False)
               for _ in range(args.warmup + args.steps)]
    optimizer = trainer._optimizer()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    encoder = trainer.model.encoder

    def raw_step(idx):
        enc = encoder.tokenize([texts[i] for i in idx])
        enc = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        with trainer._autocast():
            out = encoder.model(**enc).last_hidden_state
        out.float().mean().backward()
        encoder.model.zero_grad(set_to_none=True)

    def ours_step(idx):
        trainer.train_step(texts, y, idx, optimizer, scheduler)

    results = {}
    for name, fn in (("raw encoder fwd+bwd", raw_step), ("ours: Trainer.train_step", ours_step)):
        trainer.model.train()
        for idx in batches[: args.warmup]:
            fn(idx)
        sync(device)
        t0 = time.perf_counter()
        for idx in batches[args.warmup:]:
            fn(idx)
        sync(device)
        results[name] = args.steps * args.batch_size / (time.perf_counter() - t0)
    table = Table(title=f"fine-tuning throughput on {device} ({args.batch_size}×{args.max_length} "
                        f"tokens max, loss {args.loss})")
    table.add_column("loop")
    table.add_column("documents / s", justify="right")
    raw = results["raw encoder fwd+bwd"]
    for name, v in results.items():
        table.add_row(name, f"{v:.1f}")
    console.print(table)
    console.print(f"ours / raw = {results['ours: Trainer.train_step'] / raw:.1%} (target ≥ 90% on GPU)")


if __name__ == "__main__":
    main()
