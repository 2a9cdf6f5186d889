"""A run folder belongs to one run: it records the command that made it and a run id, another
command's folder is refused (also with --resume), one process writes it at a time (a second run exits
2 naming the holder), atomic writes use unique temporary files and replace only regular files, and
settings that cannot run (a device the machine lacks, a context that cannot fit in memory, episodes
that are not whole collects) are refused before anything is written. Faults (a file-size limit while
a checkpoint is written, SIGTERM or SIGINT mid-run) leave the last checkpoint whole."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from critkl.cli import app
from critkl.model import build_model, load_model, save_model
from critkl.run_folder import (
    LOCK_FILE,
    RUN_FILE,
    atomic_path,
    claim,
    folder_kind,
    writable_target,
    write_text_atomic,
)
from critkl.tokenizer import CharTokenizer

pytestmark = pytest.mark.filterwarnings("ignore::critkl.calibration.WeightCollapseWarning")
runner = CliRunner()
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
# a tiny pre-training run: 1-digit problems, a few steps of 4
PRETRAIN = ["pretrain", "-n", "1", "--size", "tiny", "--batch-size", "4", "--warmup-steps", "1", "--log-every", "1",
            "--eval-every", "100", "--eval-size", "2", "--threads", "1"]


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _error(res, *needles) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, res.output
    for needle in needles:
        assert needle in errors[0], (needle, res.output)
    return errors[0]


def _pretrain(out: Path, *extra: str):
    return runner.invoke(app, [*PRETRAIN, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("m") / "tiny-n1"
    save_model(build_model("tiny", 1, seed=0), CharTokenizer(), folder)
    return folder


def _rl_args(model_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["rl", "--model", str(model_dir), "--train-digits", "2", "--episodes", "2", "--episodes-per-collect", "2",
            "--minibatch-episodes", "2", "--group-size", "2", "--test-episodes", "2", "--in-dist-episodes", "1",
            "--no-eval-greedy", "--threads", "1", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def pretrain_run(tmp_path_factory) -> Path:
    """A pre-training run stopped after its checkpoint of step 1 (of 3)."""
    out = tmp_path_factory.mktemp("runs") / "pretrain"
    res = _pretrain(out, "--steps", "3", "--until", "1")
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def rl_run(tmp_path_factory, model_dir) -> Path:
    out = tmp_path_factory.mktemp("runs") / "rl"
    res = runner.invoke(app, _rl_args(model_dir, out, "--episodes", "4", "--until", "1"))
    assert res.exit_code == 0, res.output
    return out


# --------------------------------------------------------------------------- 1. one run, one command


def test_a_run_folder_records_its_command_and_a_run_id_kept_on_resume(pretrain_run, rl_run):
    for out, kind in ((pretrain_run, "critkl pretrain"), (rl_run, "critkl rl")):
        run = json.loads((out / RUN_FILE).read_text())
        assert run["kind"] == kind and len(run["run_id"]) == 32
        assert folder_kind(out) == kind
        assert not (out / LOCK_FILE).exists()  # released at the end


def test_resume_keeps_the_run_id_and_a_folder_without_run_json_is_accepted(tmp_path):
    out = tmp_path / "run"
    assert _pretrain(out, "--steps", "3", "--until", "1").exit_code == 0
    run_id = json.loads((out / RUN_FILE).read_text())["run_id"]
    assert _pretrain(out, "--steps", "3", "--until", "2", "--resume").exit_code == 0
    assert json.loads((out / RUN_FILE).read_text())["run_id"] == run_id
    (out / RUN_FILE).unlink()  # a folder made before run.json existed: its kind is read from its files
    res = _pretrain(out, "--steps", "3", "--resume")
    assert res.exit_code == 0, res.output
    assert json.loads((out / RUN_FILE).read_text())["kind"] == "critkl pretrain"


@pytest.mark.parametrize("command", ["rl", "pretrain"])
@pytest.mark.parametrize("other", ["pretrain", "rl", "htc", "old pretrain", "old rl"])
def test_resume_or_a_new_run_never_takes_another_commands_folder(tmp_path, model_dir, pretrain_run, rl_run,
                                                                 command, other):
    if other.endswith(command):
        pytest.skip("the same command")
    if other == "htc":  # an htc train run folder, as htc writes it
        folder = tmp_path / "htc"
        (folder / "model").mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"encoder": "tfidf", "loss": "bce", "seed": 1}))
        (folder / "log.jsonl").write_text('{"epoch": 1}\n')
        (folder / "checkpoint.pt").write_bytes(b"htc")
    else:
        import shutil

        folder = tmp_path / "copy"
        shutil.copytree(pretrain_run if other.endswith("pretrain") else rl_run, folder)
        if other.startswith("old"):
            (folder / RUN_FILE).unlink()
    before = _files(folder)
    for resume in ("--resume", "--no-resume"):
        args = (_rl_args(model_dir, folder, resume) if command == "rl"
                else [*PRETRAIN, "--steps", "3", "--out", str(folder), resume])
        res = runner.invoke(app, args)
        found = "htc train" if other == "htc" else f"critkl {other.split()[-1]}"
        _error(res, str(folder), f"holds a `{found}` run", "give another --out")
        assert _files(folder) == before


@pytest.mark.parametrize("command", ["pretrain", "rl"])
def test_resume_without_a_checkpoint_is_refused_in_both_commands(tmp_path, model_dir, command):
    out = tmp_path / "new"
    args = _rl_args(model_dir, out, "--resume") if command == "rl" else [*PRETRAIN, "--out", str(out), "--resume"]
    _error(runner.invoke(app, args), str(out), "no checkpoint to resume from", "without --resume")
    assert not out.exists()
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    _error(runner.invoke(app, args), "no checkpoint to resume from")
    assert _files(out) == {"notes.txt": b"mine"}


# --------------------------------------------------------------------------- 2. one writer per folder

HOLDER = """
import sys, time
from pathlib import Path
from critkl.run_folder import claim
with claim(sys.argv[1], sys.argv[2]):
    Path(sys.argv[3]).write_text("held")
    time.sleep(120)
"""


def _hold(tmp_path: Path, out: Path, kind: str) -> subprocess.Popen:
    marker = tmp_path / "held"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out), kind, str(marker)], env=ENV)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the holder did not start"
        time.sleep(0.05)
    return proc


def test_a_second_run_on_a_held_folder_exits_2_naming_the_holder(tmp_path, model_dir, pretrain_run):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(pretrain_run, out)
    proc = _hold(tmp_path, out, "critkl pretrain")
    try:
        before = _files(out)
        res = _pretrain(out, "--steps", "3", "--resume")
        _error(res, str(out), "in use by another run", f"pid {proc.pid} on host {socket.gethostname()}")
        assert _files(out) == before
        with pytest.raises(ValueError, match=f"pid {proc.pid}"), claim(out, "critkl pretrain"):
            pass
    finally:
        proc.kill()
        proc.wait()
    # the holder was killed: its lock is stale and the next run takes it over, saying so
    res = _pretrain(out, "--steps", "3", "--resume")
    assert res.exit_code == 0, res.output
    assert f"taking over the lock of a run that stopped without releasing it (pid {proc.pid}" in res.output
    assert not (out / LOCK_FILE).exists()


def test_two_pretrain_runs_started_at_once_on_one_folder(tmp_path):
    """Exactly one runs, the other exits 2 naming the holder; the folder is the winner's, whole."""
    out = tmp_path / "run"
    procs = {}
    for seed in (1, 2):
        log = tmp_path / f"seed{seed}.txt"
        with log.open("w") as fh:
            procs[seed] = subprocess.Popen([sys.executable, "-m", "critkl.cli", *PRETRAIN, "--steps", "4",
                                            "--seed", str(seed), "--out", str(out)], stdout=fh,
                                           stderr=subprocess.STDOUT, env=ENV)
    codes = {seed: proc.wait(timeout=600) for seed, proc in procs.items()}
    outputs = {seed: (tmp_path / f"seed{seed}.txt").read_text() for seed in procs}
    assert sorted(codes.values()) == [0, 2], outputs
    winner = next(seed for seed, code in codes.items() if code == 0)
    loser = 3 - winner
    assert "in use by another run (pid " in outputs[loser] and "Traceback" not in outputs[loser], outputs[loser]
    assert json.loads((out / "config.json").read_text())["seed"] == winner
    assert json.loads((out / "final" / "training_config.json").read_text())["seed"] == winner
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    load_model(out / "final")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint", "config.json", "final", "log.jsonl", RUN_FILE]


WRITER = """
import sys
import numpy as np
from critkl.run_folder import atomic_path
value = int(sys.argv[2])
for _ in range(int(sys.argv[3])):
    with atomic_path(sys.argv[1]) as tmp:
        np.save(tmp, np.full(2_000_000, value, dtype=np.int32))  # 8 MB
"""


def test_two_writers_of_one_file_never_mix_their_data(tmp_path):
    path = tmp_path / "big.npy"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(v), "5"], env=ENV,
                              stderr=subprocess.PIPE, text=True) for v in (1, 2)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    import numpy as np

    data = np.load(path)
    assert data.shape == (2_000_000,) and len(set(np.unique(data).tolist())) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npy"]  # no temporary file left


# --------------------------------------------------------------------------- 3. regular files only


def test_atomic_writes_refuse_special_files_and_write_through_links(tmp_path):
    # /dev/full is only checked, never written: a writer that replaced special files would replace it
    with pytest.raises(ValueError, match="/dev/full: not a regular file \\(a character device\\)"):
        writable_target("/dev/full")
    fifo = tmp_path / "pipe"  # a special file of the test's own
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=f"{fifo}: not a regular file \\(a named pipe\\)"):
        write_text_atomic(fifo, "x")
    assert fifo.is_fifo()
    with pytest.raises(ValueError, match="not a regular file \\(a folder\\)"):
        write_text_atomic(tmp_path, "x")
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_text_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    res = runner.invoke(app, ["pretrain", "--out", str(fifo)])
    _error(res, f"{fifo}: not a folder")
    with pytest.raises(ValueError), atomic_path(fifo):
        pass
    assert fifo.is_fifo()


def test_a_write_cut_short_leaves_the_file_and_no_temporary(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("before")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("cut")
    assert path.read_text() == "before" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


# --------------------------------------------------------------------------- 4. devices checked first


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_the_machine_lacks_is_refused_before_any_work(tmp_path, model_dir):
    out = tmp_path / "run"
    start = time.monotonic()
    _error(_pretrain(out, "--device", "cuda"), "--device cuda", "no CUDA GPU")
    _error(_pretrain(out, "--device", "cuda:3"), "--device cuda:3")
    _error(_pretrain(out, "--device", "tpu9"), "device must be auto, cpu, cuda")
    _error(runner.invoke(app, _rl_args(model_dir, out, "--decoding", "cuda_graph")), "--decoding cuda_graph",
           "CUDA GPU")
    assert time.monotonic() - start < 30
    assert not out.exists()


# --------------------------------------------------------------------------- 5. bounded work


@pytest.mark.parametrize("args,needle", [
    (["--max-digits", "200"], "--max-digits 200"),
    (["--max-digits", "60", "--size", "paper", "--batch-size", "256"], "GiB"),
])
def test_settings_that_cannot_fit_in_memory_are_refused_at_once(tmp_path, args, needle):
    out = tmp_path / "run"
    start = time.monotonic()
    res = runner.invoke(app, ["pretrain", "--out", str(out), *args])
    _error(res, needle, "lower --max-digits or --batch-size")
    assert time.monotonic() - start < 20 and not out.exists()


STOPPER = """
import signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when started in the background
import critkl.pretrain
pretrain = sys.modules["critkl.pretrain"]
real = pretrain.make_batch
marker, block_at = sys.argv[1], int(sys.argv[2])

def make_batch(max_digits, batch_size, seed, step):
    if step == block_at:
        Path(marker).write_text("stopped")
        while True:
            time.sleep(60)
    return real(max_digits, batch_size, seed, step)

pretrain.make_batch = make_batch
from critkl.cli import app
app(sys.argv[3:], prog_name="critkl")
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_pretraining_at_once_and_resume_gives_the_same_weights(tmp_path, sig):
    from safetensors.torch import load_file

    full, cut = tmp_path / "full", tmp_path / "cut"
    args = [*PRETRAIN, "--steps", "4", "--checkpoint-every", "2"]
    assert runner.invoke(app, [*args, "--out", str(full)]).exit_code == 0
    marker = tmp_path / "stopped"
    log = tmp_path / "cut.txt"
    with log.open("w") as fh:
        proc = subprocess.Popen([sys.executable, "-c", STOPPER, str(marker), "2", *args, "--out", str(cut)],
                                stdout=fh, stderr=subprocess.STDOUT, env=ENV)
    try:
        while not marker.exists():
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        proc.send_signal(sig)
        start = time.monotonic()
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - start < 15  # a few seconds, on a busy machine
    assert code == (143 if sig == signal.SIGTERM else 130), log.read_text()
    text = log.read_text()
    assert f"stopped by {signal.Signals(sig).name}" in text and "Traceback" not in text, text
    assert not (cut / LOCK_FILE).exists() and not list(cut.glob(".tmp-*"))
    load_model(cut / "checkpoint")  # the checkpoint of step 2, whole
    assert runner.invoke(app, [*args, "--out", str(cut), "--resume"]).exit_code == 0
    a, b = load_file(full / "final" / "model.safetensors"), load_file(cut / "final" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- 6. asked = done


@pytest.mark.parametrize("episodes,per_collect,runs", [(4, 8, 8), (5, 2, 6)])
def test_episodes_that_are_not_whole_collects_are_refused(tmp_path, model_dir, episodes, per_collect, runs):
    out = tmp_path / "rl"
    res = runner.invoke(app, _rl_args(model_dir, out, "--episodes", str(episodes), "--episodes-per-collect",
                                      str(per_collect), "--minibatch-episodes", "2"))
    _error(res, f"--episodes {episodes} is not a multiple of --episodes-per-collect {per_collect}",
           f"would train {runs} episodes")
    assert not out.exists()


def test_a_minibatch_larger_than_a_collect_is_said(tmp_path, model_dir):
    out = tmp_path / "rl"
    res = runner.invoke(app, _rl_args(model_dir, out, "--minibatch-episodes", "16"))
    assert res.exit_code == 0, res.output
    assert "--minibatch-episodes 16 is larger than a collect (--episodes-per-collect 2)" in res.output


# --------------------------------------------------------------------------- 7. files follow the umask


def test_model_files_follow_the_umask(tmp_path, pretrain_run):
    old = os.umask(0o022)
    try:
        save_model(build_model("tiny", 1, seed=0), CharTokenizer(), tmp_path / "m")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "m").iterdir()}
    assert modes["model.safetensors"] == 0o644, modes
    assert len(set(modes.values())) == 1, modes


# --------------------------------------------------------------------------- 8. faults


FSIZE = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
from critkl.cli import app
app(sys.argv[2:], prog_name="critkl")
"""


@pytest.mark.parametrize("command", ["pretrain", "rl"])
def test_a_file_size_limit_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, model_dir, command):
    out = tmp_path / "run"
    if command == "pretrain":
        args = [*PRETRAIN, "--steps", "3", "--checkpoint-every", "1", "--out", str(out)]
        first, ckpt = [*args, "--until", "1"], out / "checkpoint"
    else:
        args = _rl_args(model_dir, out, "--episodes", "6")
        first, ckpt = [*args, "--until", "1"], out / "checkpoint.pt"
    assert runner.invoke(app, first).exit_code == 0
    saved = _files(ckpt) if ckpt.is_dir() else {"": ckpt.read_bytes()}
    limit = 200_000  # the weights (~3 MB) do not fit; config.json and log lines do
    res = subprocess.run([sys.executable, "-c", FSIZE, str(limit), *args, "--resume"], env=ENV,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    assert "cannot write the checkpoint" in res.stderr and "previous checkpoint" in res.stderr, res.stderr
    assert (_files(ckpt) if ckpt.is_dir() else {"": ckpt.read_bytes()}) == saved
    assert not list(out.glob(".tmp-*")) and not (out / LOCK_FILE).exists()
    res = runner.invoke(app, [*args, "--resume"])  # the limit lifted: the run goes on from it
    assert res.exit_code == 0, res.output


def test_a_held_folder_is_released_when_the_run_fails(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ZeroDivisionError), claim(out, "critkl pretrain"):
        raise ZeroDivisionError
    assert not out.exists()
    out.mkdir()
    with claim(out, "critkl pretrain"), claim(out, "critkl pretrain"):  # nested in one process
        assert (out / LOCK_FILE).is_file()
    assert list(out.iterdir()) == []



# --------------------------------------------------------------------------- fuzz

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(max_digits=st.integers(1, 400), batch=st.integers(1, 2048), size=st.sampled_from(["tiny", "small", "paper"]))
def test_any_pretraining_size_is_checked_before_any_allocation(max_digits, batch, size):
    from critkl.pretrain import PretrainConfig, check_memory, step_memory

    config = PretrainConfig(max_digits=max_digits, batch_size=batch, size=size)
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        check_memory(config, torch.device("cpu"))
    except ValueError as err:
        assert f"--max-digits {max_digits}" in str(err) and "lower --max-digits or --batch-size" in str(err)
        assert step_memory(config) > 0.8 * total
        return
    assert step_memory(config) <= 0.8 * total


@settings(max_examples=200, deadline=None)
@given(episodes=st.integers(0, 64), per_collect=st.integers(1, 16), minibatch=st.integers(1, 32))
def test_any_episode_counts_run_as_asked_or_are_refused(episodes, per_collect, minibatch):
    import typer

    from critkl.rl import RLConfig
    from critkl.rl.cli import check_request

    config = RLConfig(episodes=episodes, episodes_per_collect=per_collect, minibatch_episodes=minibatch,
                      advantage="gae", group_size=1)
    try:
        check_request(config)
    except typer.Exit as exit_:
        assert exit_.exit_code == 2 and episodes % per_collect
        return
    assert episodes % per_collect == 0


@settings(max_examples=150, deadline=None)
@given(run=st.one_of(st.none(), st.binary(max_size=40), st.dictionaries(st.text(max_size=5), st.text(max_size=8),
                                                                          max_size=3).map(json.dumps).map(str.encode)),
       config=st.one_of(st.none(), st.binary(max_size=40),
                        st.sampled_from([b'{"max_digits": 1, "steps": 2}', b'{"episodes_per_collect": 2}', b"[1]"])))
def test_any_run_folder_content_gives_a_kind_or_a_clear_refusal(run, config):
    import tempfile

    from critkl.run_folder import RunFolderError

    folder = Path(tempfile.mkdtemp())
    if run is not None:
        (folder / RUN_FILE).write_bytes(run)
    if config is not None:
        (folder / "config.json").write_bytes(config)
    try:
        kind = folder_kind(folder)
    except RunFolderError as err:
        assert str(err).startswith(f"{folder / RUN_FILE}: damaged"), err
        return
    finally:
        import shutil

        shutil.rmtree(folder)
    assert kind is None or isinstance(kind, str)


def test_a_file_system_without_locks_runs_and_says_so(tmp_path, monkeypatch, capsys):
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    out = tmp_path / "run"
    with claim(out, "critkl pretrain") as run:
        run.record(new=True)
        (out / "log.jsonl").write_text("{}\n")
    assert "cannot lock the run folder (No locks available); running without the one-writer check" in \
        capsys.readouterr().err
    assert json.loads((out / RUN_FILE).read_text())["kind"] == "critkl pretrain"
