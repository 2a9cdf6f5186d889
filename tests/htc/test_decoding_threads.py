"""Exact decoding leaves torch's thread count alone (numba and torch share one OpenMP runtime)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import warnings
import numpy as np, torch, numba
warnings.simplefilter("ignore")
torch.set_num_threads(1)
from htc import Taxonomy
from htc.decoding import decode
tax = Taxonomy.from_edges([("Root", "a"), ("Root", "b"), ("a", "a1"), ("a", "a2"), ("b", "b1")])
rng = np.random.default_rng(0)
for method in ("optimal_hf", "optimal_hf_multi"):
    decode(rng.random((8, len(tax))) * 0.5, tax, method)
    assert torch.get_num_threads() == 1, (method, torch.get_num_threads())
    assert numba.get_num_threads() == 1, (method, numba.get_num_threads())
print("ok")
"""


def test_exact_decoding_keeps_torch_thread_count():
    # a fresh process: the thread counts are global to it
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
