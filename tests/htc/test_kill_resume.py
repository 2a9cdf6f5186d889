"""``htc train`` killed with SIGKILL in the middle of an epoch, then ``--resume``d: the same final
weights, predictions and log as an uninterrupted run, bit for bit (CPU, one thread); checkpoints
are never half-written."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from htc.training import Trainer
from htc.training.checkpoint import load_checkpoint, save_checkpoint
from tests.htc.test_cli import toy_folder
from tests.htc.test_training import config, synthetic_corpus

REPO = Path(__file__).resolve().parents[2]
# 240 training documents in batches of 2: 120 steps per epoch, a checkpoint every 7 steps
CONFIG = {"epochs": 4, "batch_size": 2, "hidden": 32, "tfidf_svd": 16, "checkpoint_every": 7,
          "patience": 10, "lr_head": 3e-3}
WAIT = 180  # seconds before a run that never reaches a mid-epoch checkpoint fails the test


def dataset(tmp_path: Path) -> tuple[Path, Path]:
    _, _, data, cfg = toy_folder(tmp_path, n_train=240, **CONFIG)
    return data, cfg


def train_cmd(data: Path, cfg: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "htc.cli", "train", "--data", str(data), "--config", str(cfg),
            "--out", str(out), *extra]


ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}


def finish(cmd: list[str]) -> None:
    try:
        res = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=WAIT)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"timed out: {' '.join(cmd)}\n{err.stdout}\n{err.stderr}")
    assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"


def mid_epoch_state(ckpt: Path) -> dict | None:
    """The checkpoint's loop state when it was saved in the middle of epoch 2 or later."""
    if not ckpt.is_file():
        return None
    state = load_checkpoint(ckpt)["state"]
    return state if state["epoch"] >= 1 and state["step_in_epoch"] > 0 else None


def kill_mid_epoch(cmd: list[str], out: Path) -> dict:
    """Start ``cmd``; once its checkpoint is mid-epoch (epoch 2 or later), freeze it (SIGSTOP),
    check that the checkpoint on disk is still mid-epoch, and SIGKILL it; else let it go on."""
    console = out.parent / f"{out.name}.console.txt"
    with console.open("w") as fh:
        proc = subprocess.Popen(cmd, env=ENV, stdout=fh, stderr=subprocess.STDOUT)
    ckpt, log = out / "checkpoint.pt", out / "log.jsonl"
    deadline = time.monotonic() + WAIT
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if log.is_file() and log.read_text() and mid_epoch_state(ckpt):
                os.kill(proc.pid, signal.SIGSTOP)
                state = mid_epoch_state(ckpt)  # what a resume would start from
                if state is not None:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    assert proc.returncode == -signal.SIGKILL
                    return state
                os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    pytest.fail(f"the run ended (rc {proc.returncode}) before a mid-epoch checkpoint:\n"
                f"{console.read_text()[-3000:]}")


def test_sigkilled_training_resumes_to_the_same_weights(tmp_path):
    data, cfg = dataset(tmp_path)
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    finish(train_cmd(data, cfg, full))
    state = kill_mid_epoch(train_cmd(data, cfg, resumed), resumed)
    print(f"killed after the checkpoint of epoch {state['epoch'] + 1}, step {state['step_in_epoch']}"
          f" of 120; leftover temporary files: {sorted(p.name for p in resumed.glob('*.tmp'))}")
    assert 0 < state["step_in_epoch"] < 120 and 1 <= state["epoch"] < CONFIG["epochs"]
    assert not (resumed / "result.json").exists()  # killed before the end
    finish(train_cmd(data, cfg, resumed, "--resume"))

    last_full = load_checkpoint(full / "checkpoint.pt")
    last_resumed = load_checkpoint(resumed / "checkpoint.pt")
    assert last_full["state"] == last_resumed["state"]
    assert all(torch.equal(last_full["model"][k], last_resumed["model"][k])
               for k in last_full["model"])
    assert (full / "model" / "head.safetensors").read_bytes() == \
        (resumed / "model" / "head.safetensors").read_bytes()  # best dev weights
    for name in ("test_proba.npy", "dev_proba.npy"):
        assert np.array_equal(np.load(full / name), np.load(resumed / name)), name

    def records(folder):
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                for line in (folder / "log.jsonl").read_text().splitlines()]

    assert records(resumed) == records(full) and len(records(full)) == CONFIG["epochs"]
    result_full = json.loads((full / "result.json").read_text())
    result_resumed = json.loads((resumed / "result.json").read_text())
    assert result_full["test"] == result_resumed["test"]
    assert not list(resumed.glob("*.tmp"))  # a temporary file the kill left is renamed or replaced


def test_resume_drops_epochs_logged_after_the_checkpoint(tmp_path):
    """Killed after logging an epoch but before that epoch's checkpoint: no duplicate record."""
    tax, train = synthetic_corpus(48, seed=1)
    _, dev = synthetic_corpus(24, seed=2)
    killed = Trainer(config(), tax, out_dir=tmp_path, progress=False)
    killed.fit(train, dev, stop_after_steps=10)  # 6 steps per epoch; checkpoint at step 8
    log = tmp_path / "log.jsonl"
    with log.open("a") as fh:  # epoch 2 logged by the killed run, not in the checkpoint
        fh.write(json.dumps({"event": "epoch", "epoch": 2, "train_loss": 0.0}) + "\n")
    Trainer(config(), tax, out_dir=tmp_path, progress=False).fit(train, dev, resume=True)
    assert [json.loads(x)["epoch"] for x in log.read_text().splitlines()] == [1, 2, 3]


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state={"step": 1})

    def half_written(obj, f):
        Path(f).write_bytes(b"PK\x03\x04 half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", half_written)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, state={"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["state"] == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]
    path.write_bytes(b"PK\x03\x04 half")  # a file cut short by other means: a clear error
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(path)
