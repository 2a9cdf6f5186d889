"""``htc train`` on two CPU processes (``accelerate launch``, gloo) against the same run on one.

On a machine without CUDA, ``accelerate launch --multi_gpu --num_processes 2`` starts two
processes through ``torch.distributed.run`` and the trainer joins them with gloo (``--cpu
--num_processes 2`` would start one process: accelerate's CPU launcher needs ``mpirun`` for more).

The 2-process run and the 1-process run see the same global batches (7 documents: shares of 4
and 3, then 3 and 3, so unequal shares are covered) with dropout 0, so they compute the same
mean-loss gradients, summed in a different order. Measured on CPU: the weights differ by
at most 4.5e-8 (float32 rounding); the tolerance is ``WEIGHT_ATOL``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.htc.test_cli import toy_folder

pytest.importorskip("accelerate")
REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tests" / "htc" / "dist_train.py"
PORT = "29531"  # other multi-process tests use other ports
WEIGHT_ATOL = 1e-6  # float32 reduction order, accumulated over 21 AdamW steps
CONFIG = {"epochs": 3, "batch_size": 7, "hidden": 32, "tfidf_svd": 16, "dropout": 0.0,
          "patience": 10, "checkpoint_every": 4, "lr_head": 3e-3}


def run(args: list[str], processes: int, timeout: int = 240) -> subprocess.CompletedProcess:
    """Run ``dist_train.py ARGS`` on 1 process or under ``accelerate launch`` on ``processes``."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
           "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("RANK", None), env.pop("WORLD_SIZE", None)
    launcher = [] if processes == 1 else [
        "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", PORT]
    cmd = [sys.executable, *launcher, str(SCRIPT), *args]
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"timed out: {' '.join(cmd)}\n{err.stdout}\n{err.stderr}")
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    return res


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    _, _, data, cfg = toy_folder(tmp)
    cfg.write_text(json.dumps(CONFIG))
    out = {}
    for n in (2, 1):
        folder = tmp / f"p{n}"
        res = run(["train", "--data", str(data), "--config", str(cfg), "--loss",
                   "conditional_softmax_la", "--out", str(folder)], n)
        out[n] = (folder, res)
    return out


def record(folder: Path, rank: int = 0) -> dict:
    return torch.load(folder / f"rank{rank}.pt")


def test_two_processes_train_one_model(runs):
    folder, res = runs[2]
    r0, r1 = record(folder, 0), record(folder, 1)
    assert r0["world"] == r1["world"] == 2  # two processes really ran, joined
    # gradients are averaged across ranks: both end with the same weights, bit for bit
    assert all(torch.equal(r0["weights"][k], r1["weights"][k]) for k in r0["weights"])
    # the metrics (train loss reduced over ranks, dev scores) are the same on both ranks
    assert r0["history"] == r1["history"] and len(r0["history"]) == 3


def test_two_processes_log_and_write_once(runs):
    folder, res = runs[2]
    log = [json.loads(x) for x in (folder / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]  # written once, by rank 0
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in log] == record(folder)["history"]
    assert res.stdout.count("results in") == 1 and res.stdout.count("split: files in") == 1
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".tmp-*"))


def test_two_process_checkpoint_and_model_load(runs):
    from htc.data import read_jsonl
    from htc.training import Trainer
    from htc.training.checkpoint import load_checkpoint

    folder, _ = runs[2]
    model = Trainer.load(folder / "model")
    assert all(torch.equal(v, record(folder)["weights"][f"head.{k}"])
               for k, v in model.model.head.state_dict().items())
    test = read_jsonl(next((folder.parent / "data").glob("*test*")), model.taxonomy)
    assert np.allclose(model.predict_proba(test.texts), np.load(folder / "test_proba.npy"),
                       atol=1e-6)
    ck = load_checkpoint(folder / "checkpoint.pt")
    assert ck["state"]["epoch"] == 3 and ck["state"]["global_step"] == 21
    assert set(ck["model"]) == set(record(folder)["weights"])


def test_two_processes_match_one_with_the_same_global_batch(runs):
    (f2, _), (f1, _) = runs[2], runs[1]
    r2, r1 = record(f2), record(f1)
    assert r1["world"] == 1
    diff = max(float((r2["weights"][k] - r1["weights"][k]).abs().max()) for k in r1["weights"])
    last2 = load_checkpoint_model(f2)
    last1 = load_checkpoint_model(f1)
    diff_last = max(float((last2[k] - last1[k]).abs().max()) for k in last1)
    print(f"max |weight difference|, 2 processes vs 1: best {diff:.3g}, last {diff_last:.3g}")
    assert diff <= WEIGHT_ATOL and diff_last <= WEIGHT_ATOL
    for a, b in zip(r2["history"], r1["history"]):
        assert a["epoch"] == b["epoch"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        for key in ("dev_h_micro_f", "dev_h_leaf_f"):
            assert a[key] == pytest.approx(b[key], abs=1e-9)
    assert np.allclose(np.load(f2 / "test_proba.npy"), np.load(f1 / "test_proba.npy"), atol=1e-5)


def load_checkpoint_model(folder: Path) -> dict:
    from htc.training.checkpoint import load_checkpoint

    return load_checkpoint(folder / "checkpoint.pt")["model"]


def test_deepspeed_and_fsdp_launches_are_refused(monkeypatch):
    import accelerate
    from accelerate.utils import DistributedType

    from htc.training import Trainer

    class Launched:  # what accelerate.Accelerator reports under a DeepSpeed or FSDP config
        def __init__(self, cpu):
            self.distributed_type = kind

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(accelerate, "Accelerator", Launched)
    for kind in (DistributedType.DEEPSPEED, DistributedType.FSDP):
        with pytest.raises(ValueError, match=f"data parallel \\(DDP\\) only, not {kind.value}"):
            Trainer._accelerator()
    kind = DistributedType.MULTI_CPU
    assert isinstance(Trainer._accelerator(), Launched)
