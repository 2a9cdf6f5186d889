"""Embedding speed of the default encoder (MiniLM-L6) on HWV texts: float32 against ``auto``, one run.

``FrozenEncoder(precision="auto")`` runs the encoder under bf16 autocast on a CPU with native bf16
(``avx512_bf16``/AMX); both use length-sorted batches with dynamic padding. The script embeds the
same texts both ways (no cache), prints texts per second, the ratio and how far the embeddings
moved (cosine to the float32 ones).

With ``onnxruntime`` installed (``pip install onnxruntime onnx``), a third line runs the same encoder,
pooling included, exported to ONNX and optimised for BERT by ONNX Runtime's transformer optimiser, on
the same length-sorted batches (the export is not timed).

Run: ``.venv/bin/python benchmarks/htc_embedding.py [--texts 320] [--threads 2] [--repeats 3]``.
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


def embed_onnx(texts, threads: int, folder: str) -> tuple[float, np.ndarray] | None:
    """Seconds and embeddings through ONNX Runtime, or ``None`` when it is not installed."""
    try:
        import onnxruntime as ort
        from onnxruntime.transformers import optimizer
    except ImportError:
        return None
    from htc.encoders.pretrained import load_encoder

    model, tok = load_encoder(None)

    class Pooled(torch.nn.Module):  # FrozenEncoder's masked mean pooling and L2 normalisation
        def __init__(self) -> None:
            super().__init__()
            self.encoder = model.eval()

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp_min(1), dim=1)

    raw, fused = f"{folder}/minilm.onnx", f"{folder}/minilm-bert.onnx"
    enc = tok(["an example", "another example text"], padding=True, return_tensors="pt")
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    torch.onnx.export(Pooled(), (enc["input_ids"], enc["attention_mask"]), raw, dynamo=False,
                      input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                      dynamic_axes=axes, opset_version=17)
    c = model.config
    optimizer.optimize_model(raw, model_type="bert", num_heads=c.num_attention_heads,
                             hidden_size=c.hidden_size).save_model_to_file(fused)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    runner = ort.InferenceSession(fused, options, providers=["CPUExecutionProvider"])
    order = np.argsort([len(t) for t in texts])
    out = np.zeros((len(texts), c.hidden_size), np.float32)

    def run(subset) -> None:
        for start in range(0, len(subset), 32):
            idx = subset[start:start + 32]
            batch = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=256,
                        return_tensors="np")
            out[idx] = runner.run(None, {"input_ids": batch["input_ids"].astype(np.int64),
                                          "attention_mask": batch["attention_mask"].astype(np.int64)})[0]

    run(order[:32])  # warm up
    t = time.perf_counter()
    run(order)
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--texts", type=int, default=320)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many rounds, alternating")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    texts = load_hwv().dev.texts[:args.texts]
    auto = FrozenEncoder(precision="auto").precision
    t_ref = t_auto = float("inf")
    for _ in range(args.repeats):  # alternating, so a busy spell of the machine hits both alike
        t, ref = embed(texts, "fp32")
        t_ref = min(t_ref, t)
        t, out = embed(texts, "auto")
        t_auto = min(t_auto, t)
    cos = (ref * out).sum(axis=1)
    with tempfile.TemporaryDirectory() as folder:
        onnx = embed_onnx(texts, args.threads, folder)
    table = Table(title=f"MiniLM-L6 on {len(texts)} HWV texts (max 256 tokens), {args.threads} "
                        f"thread(s), best of {args.repeats}; native bf16 CPU: {native_bf16_cpu()}")
    for col in ("precision", "texts/s", "vs float32", "cosine to float32 (min / mean)"):
        table.add_column(col)
    table.add_row("fp32", f"{len(texts) / t_ref:.1f}", "1.00×", "")
    table.add_row(f"auto ({auto})", f"{len(texts) / t_auto:.1f}", f"{t_ref / t_auto:.2f}×",
                  f"{cos.min():.6f} / {cos.mean():.6f}")
    if onnx is None:
        table.add_row("ONNX Runtime", "not installed", "", "")
    else:
        cos_onnx = (ref * onnx[1]).sum(axis=1)
        table.add_row("ONNX Runtime (fp32, BERT fusions)", f"{len(texts) / onnx[0]:.1f}",
                      f"{t_ref / onnx[0]:.2f}×", f"{cos_onnx.min():.6f} / {cos_onnx.mean():.6f}")
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)


if __name__ == "__main__":
    main()
