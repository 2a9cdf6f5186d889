"""Two CPU processes under torchrun: the trainer's accelerate path (DDP) end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("accelerate")
REPO = Path(__file__).resolve().parents[2]


def test_two_process_training(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29517", str(REPO / "tests/htc/dist_train.py"), str(tmp_path)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    w0 = torch.load(tmp_path / "weights_rank0.pt")
    w1 = torch.load(tmp_path / "weights_rank1.pt")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)  # gradients were averaged across ranks
    log = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]  # written once, by rank 0
    assert (tmp_path / "model" / "head.safetensors").is_file()
    assert (tmp_path / "checkpoint.pt").is_file()
