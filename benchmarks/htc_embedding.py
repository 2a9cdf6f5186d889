"""Embedding speed of the default encoder (MiniLM-L6) on HWV texts: float32 against ``auto``, one run.

``FrozenEncoder(precision="auto")`` runs the encoder under bf16 autocast on a CPU with native bf16
(``avx512_bf16``/AMX); both use length-sorted batches with dynamic padding. The script embeds the
same texts both ways (no cache), prints texts per second, the ratio and how far the embeddings
moved (cosine to the float32 ones).

Run: ``.venv/bin/python benchmarks/htc_embedding.py [--texts 320] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from htc.datasets import load_hwv
from htc.encoders import FrozenEncoder
from htc.encoders.frozen import native_bf16_cpu


def embed(texts, precision: str) -> tuple[float, np.ndarray]:
    with tempfile.TemporaryDirectory() as cache:
        enc = FrozenEncoder(cache_dir=cache, precision=precision)
        enc.transform(texts[:32], progress=False)  # load the model, warm up
        t = time.perf_counter()
        out = enc.transform(texts, progress=False)
        return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--texts", type=int, default=320)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    texts = load_hwv().dev.texts[:args.texts]
    auto = FrozenEncoder(precision="auto").precision
    t_ref, ref = embed(texts, "fp32")
    t_auto, out = embed(texts, "auto")
    cos = (ref * out).sum(axis=1)
    table = Table(title=f"MiniLM-L6 on {len(texts)} HWV texts (max 256 tokens), {args.threads} "
                        f"thread(s); native bf16 CPU: {native_bf16_cpu()}")
    for col in ("precision", "texts/s", "vs float32", "cosine to float32 (min / mean)"):
        table.add_column(col)
    table.add_row("fp32", f"{len(texts) / t_ref:.1f}", "1.00×", "")
    table.add_row(f"auto ({auto})", f"{len(texts) / t_auto:.1f}", f"{t_ref / t_auto:.2f}×",
                  f"{cos.min():.6f} / {cos.mean():.6f}")
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)


if __name__ == "__main__":
    main()
