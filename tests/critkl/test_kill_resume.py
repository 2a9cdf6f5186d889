"""Kill and resume: a run killed with SIGKILL, then resumed with the same command, ends with the same
weights (bitwise, CPU, one torch thread) and the same log as a run never interrupted; the leftovers of a
save cut short (a half-written temporary checkpoint) never break a resume.

The killed run is ``critkl`` itself, started by a small script that stops it at a chosen point (inside
a pre-training step after a checkpoint, inside an RL collect) and says so in a marker file; the test
then kills it. No test waits on a clock: each waits for the marker or the end of the process.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from critkl.model import build_model, save_model
from critkl.pretrain import PretrainConfig, pretrain
from critkl.rl import RLConfig, Trainer
from critkl.tokenizer import CharTokenizer

pytestmark = pytest.mark.filterwarnings("ignore::critkl.calibration.WeightCollapseWarning")

# Runs ``critkl ARGS`` and stops it for good at a point of the run, writing MARKER first:
# pretrain at the batch of step BLOCK_AT (0-based), rl when collect BLOCK_AT (0-based) has sampled its
# episodes and is about to update.
STOPPER = '''
import sys, time
from pathlib import Path

marker, block_at, kind, *args = sys.argv[1:]
block_at = int(block_at)


def stop_here():
    Path(marker).write_text("stopped")
    while True:
        time.sleep(60)


if kind == "pretrain":
    import critkl.pretrain

    pretrain = sys.modules["critkl.pretrain"]  # the module (critkl.pretrain is also the function's name)
    real_batch = pretrain.make_batch

    def make_batch(max_digits, batch_size, seed, step):
        if step == block_at:
            stop_here()
        return real_batch(max_digits, batch_size, seed, step)

    pretrain.make_batch = make_batch
else:
    from critkl.rl.trainer import Trainer

    real_prepare = Trainer.prepare

    def prepare(self, ro):
        if self.iteration == block_at:
            stop_here()
        return real_prepare(self, ro)

    Trainer.prepare = prepare

from critkl.cli import app

app(args, prog_name="critkl")
'''
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
TIMING = ("time", "tokens_per_s", "episodes_per_s", "wall_s")


def _start(args: list[str], log: Path) -> subprocess.Popen:
    """``critkl ARGS`` in its own process, output to ``log``."""
    with log.open("w") as f:
        return subprocess.Popen([sys.executable, "-m", "critkl.cli", *args], stdout=f, stderr=subprocess.STDOUT,
                                env=ENV)


def _finish(proc: subprocess.Popen, log: Path) -> None:
    assert proc.wait() == 0, log.read_text()


def _run_and_kill(tmp_path: Path, kind: str, block_at: int, args: list[str]) -> None:
    script, marker, log = tmp_path / "stopper.py", tmp_path / "stopped", tmp_path / "killed.log"
    script.write_text(STOPPER)
    with log.open("w") as f:
        proc = subprocess.Popen([sys.executable, str(script), str(marker), str(block_at), kind, *args],
                                stdout=f, stderr=subprocess.STDOUT, env=ENV)
        try:
            while not marker.exists():
                if proc.poll() is not None:
                    pytest.fail(f"the run ended before its stop point:\n{log.read_text()}")
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _records(folder: Path, drop=TIMING) -> list[dict]:
    recs = [json.loads(x) for x in (folder / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith(drop)} for r in recs]


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_pretrain_killed_between_checkpoints_resumes_to_the_same_weights(tmp_path):
    def args(out):
        return ["pretrain", "-n", "1", "--size", "tiny", "--steps", "6", "--batch-size", "4", "--warmup-steps", "2",
                "--log-every", "1", "--eval-every", "100", "--eval-size", "2", "--checkpoint-every", "2",
                "--threads", "1", "--seed", "3", "--out", str(out)]

    killed, straight = tmp_path / "killed", tmp_path / "straight"
    uninterrupted = _start(args(straight), tmp_path / "straight.log")  # alongside, on the other core
    _run_and_kill(tmp_path, "pretrain", 3, args(killed))  # inside step 4, after the checkpoint of step 2
    assert [r["step"] for r in _records(killed)] == [1, 2, 3]  # step 3 was done, not checkpointed
    state = torch.load(killed / "checkpoint" / "trainer_state.pt", weights_only=False)
    assert state["step"] == 2 and not (killed / "final").exists()
    _finish(_start(args(killed) + ["--resume"], tmp_path / "resumed.log"), tmp_path / "resumed.log")
    _finish(uninterrupted, tmp_path / "straight.log")
    _assert_same_weights(load_file(killed / "final" / "model.safetensors"),
                         load_file(straight / "final" / "model.safetensors"))
    assert _records(killed) == _records(straight)  # steps 3.. logged once, by the resumed run


def test_rl_killed_inside_a_collect_resumes_to_the_same_weights(tmp_path):
    model = tmp_path / "start"
    save_model(build_model("tiny", 1, seed=0), CharTokenizer(), model)

    def args(out):
        return ["rl", "--model", str(model), "--train-digits", "2", "--advantage", "gae", "--episodes", "8", "--episodes-per-collect", "2",
                "--minibatch-episodes", "1", "--test-episodes", "2", "--in-dist-episodes", "1", "--no-eval-greedy",
                "--lr", "1e-3", "--beta", "2", "--seed", "3", "--checkpoint-every", "2", "--threads", "1",
                "--out", str(out)]

    killed, straight = tmp_path / "killed", tmp_path / "straight"
    uninterrupted = _start(args(straight), tmp_path / "straight.log")  # alongside, on the other core
    _run_and_kill(tmp_path, "rl", 3, args(killed))  # inside collect 4, after the checkpoint of collect 2
    assert [r["iteration"] for r in _records(killed)] == [0, 1, 2, 3]
    assert torch.load(killed / "checkpoint.pt", weights_only=False)["iteration"] == 2
    _finish(_start(args(killed) + ["--resume"], tmp_path / "resumed.log"), tmp_path / "resumed.log")
    _finish(uninterrupted, tmp_path / "straight.log")
    _assert_same_weights(load_file(killed / "final" / "model.safetensors"),
                         load_file(straight / "final" / "model.safetensors"))
    a = torch.load(killed / "checkpoint.pt", weights_only=False)
    b = torch.load(straight / "checkpoint.pt", weights_only=False)
    _assert_same_weights(a["policy"], b["policy"])  # the value head too
    assert _records(killed) == _records(straight)


# --------------------------------------------------------------------------- a save cut short


def _pretrain_config(out, **kw):
    return PretrainConfig(**dict(max_digits=1, size="tiny", out_dir=str(out), steps=4, batch_size=4, warmup_steps=2,
                                 log_every=1, eval_every=100, eval_size=2, checkpoint_every=2, seed=5, threads=1) | kw)


@pytest.mark.parametrize("cut", ["while writing", "while swapping"])
def test_pretrain_resumes_past_a_half_written_checkpoint(tmp_path, cut):
    straight = pretrain(_pretrain_config(tmp_path / "straight"), progress=False)
    out = tmp_path / "cut"
    pretrain(_pretrain_config(out), progress=False, until=2)
    ckpt, tmp, old = out / "checkpoint", out / "checkpoint.tmp", out / "checkpoint.old"
    tmp.mkdir()  # the next save, killed half-way through writing its files
    weights = (ckpt / "model.safetensors").read_bytes()
    (tmp / "model.safetensors").write_bytes(weights[: len(weights) // 3])
    (tmp / "stray.bin").write_bytes(b"\0" * 10)
    if cut == "while swapping":  # killed after the previous checkpoint moved aside, before the new one moved in
        ckpt.rename(old)
    final = pretrain(_pretrain_config(out), progress=False)
    _assert_same_weights(load_file(final / "model.safetensors"), load_file(straight / "model.safetensors"))
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint")) == ["checkpoint"]
    assert "stray.bin" not in {p.name for p in ckpt.iterdir()}


def test_rl_resumes_past_a_half_written_checkpoint(tmp_path):
    def trainer(name):
        cfg = RLConfig(out_dir=str(tmp_path / name), train_digits=2, advantage="gae", episodes=4, episodes_per_collect=2,
                       minibatch_episodes=1, test_episodes=2, in_dist_episodes=1, eval_greedy=False, lr=1e-3, seed=3,
                       beta=2.0, threads=1)
        return Trainer(cfg, lm=build_model("tiny", 1, seed=0), tokenizer=CharTokenizer())

    full = trainer("full")
    full.run(resume=False)
    trainer("cut").run(resume=False, until=1)
    whole = (tmp_path / "cut" / "checkpoint.pt").read_bytes()
    (tmp_path / "cut" / "checkpoint.tmp").write_bytes(whole[: len(whole) // 2])  # the next save, cut short
    resumed = trainer("cut")
    resumed.run(resume=True)
    assert resumed.iteration == 2
    _assert_same_weights(full.policy.state_dict(), resumed.policy.state_dict())
