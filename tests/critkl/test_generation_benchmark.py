"""The generation benchmark runs and checks that every method writes the same text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generation_benchmark_runs_every_decoder(tmp_path):
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "critkl_generation.py"), "--batch-sizes", "2",
         "--problems", "2", "--digits", "1", "--threads", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["command"].endswith("--threads 1")  # re-measures without the --json path
    methods = report["batches"][0]["methods"]
    assert methods[0]["method"].startswith("transformers generate")  # the baseline comes first
    assert {m["method"].split(":")[0] for m in methods} >= {
        "critkl decoder='gpt2'", "critkl decoder='cache'", "critkl decoder='transformers'"}
    assert all(m["identical"] == 2 and m["seconds"] > 0 for m in methods)
