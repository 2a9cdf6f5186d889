"""``htc train``'s run folder belongs to one run: it records the command and a run id, another
command's folder is refused (also with --resume), one process writes it at a time (a second run exits
2 naming the holder), atomic writes use unique temporary files and replace only regular files; a
device the machine lacks, damaged model files and unusable labels are one clear error; a file-size
limit while checkpointing and SIGTERM mid-run leave the last checkpoint whole."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from htc.cli import app, save_npy_atomic
from htc.run_folder import LOCK_FILE, RUN_FILE, folder_kind, writable_target
from htc.taxonomy import Taxonomy, TaxonomyError
from tests.htc.test_cli import toy_folder
from tests.htc.test_kill_resume import ENV, dataset, finish, mid_epoch_state, train_cmd

runner = CliRunner()


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _error(res, *needles) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and (res.exception is None or isinstance(res.exception, SystemExit))
    text = " ".join(res.output.split())
    for needle in needles:
        assert needle in text, (needle, res.output)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("toy")
    tax, val, data, cfg = toy_folder(tmp, epochs=2)
    return data, cfg


def _train(toy, out: Path, *extra: str):
    data, cfg = toy
    return runner.invoke(app, ["train", "--data", str(data), "--config", str(cfg), "--out", str(out), *extra])


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "htc"
    res = _train(toy, out)
    assert res.exit_code == 0, res.output
    return out


# --------------------------------------------------------------------------- 1. one run, one command


def test_a_run_folder_records_its_command_and_a_run_id_kept_on_resume(toy, trained, tmp_path):
    run = json.loads((trained / RUN_FILE).read_text())
    assert run["kind"] == "htc train" and len(run["run_id"]) == 32
    assert not (trained / LOCK_FILE).exists()
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(trained, out)
    assert _train(toy, out, "--resume").exit_code == 0
    assert json.loads((out / RUN_FILE).read_text())["run_id"] == run["run_id"]
    (out / RUN_FILE).unlink()  # a folder made before run.json: its kind is read from its files
    assert folder_kind(out) == "htc train"
    assert _train(toy, out, "--resume").exit_code == 0


@pytest.mark.parametrize("other", ["critkl pretrain", "critkl rl", "htc reproduce"])
def test_train_never_takes_another_commands_folder(toy, tmp_path, other):
    folder = tmp_path / "other"
    folder.mkdir()
    if other == "critkl pretrain":
        (folder / "checkpoint").mkdir()
        (folder / "checkpoint" / "trainer_state.pt").write_bytes(b"state")
        (folder / "config.json").write_text(json.dumps({"max_digits": 3, "steps": 10}))
    elif other == "critkl rl":
        (folder / "checkpoint.pt").write_bytes(b"rl")
        (folder / "config.json").write_text(json.dumps({"episodes": 4, "episodes_per_collect": 2}))
    else:
        (folder / RUN_FILE).write_text(json.dumps({"kind": "htc reproduce", "run_id": "x"}))
    (folder / "log.jsonl").write_text('{"step": 1}\n')
    before = _files(folder)
    for extra in (["--resume"], []):
        _error(_train(toy, folder, *extra), str(folder), f"holds a `{other}` run", "give another --out")
        assert _files(folder) == before


def test_resume_without_a_checkpoint_is_refused(toy, tmp_path):
    out = tmp_path / "new"
    _error(_train(toy, out, "--resume"), str(out), "no checkpoint to resume from", "without --resume")
    assert not out.exists()


# --------------------------------------------------------------------------- 2. one writer per folder

HOLDER = """
import sys, time
from pathlib import Path
from htc.run_folder import claim
with claim(sys.argv[1], "htc train"):
    Path(sys.argv[2]).write_text("held")
    time.sleep(120)
"""


def test_a_second_run_on_a_held_folder_exits_2_naming_the_holder(toy, tmp_path):
    out, marker = tmp_path / "run", tmp_path / "held"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out), str(marker)], env=ENV)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        _error(_train(toy, out), str(out), "in use by another run",
               f"pid {proc.pid} on host {socket.gethostname()}")
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # the holder's, nothing else
    finally:
        proc.kill()
        proc.wait()
    res = _train(toy, out)  # the holder was killed: its lock is taken over, and said so
    assert res.exit_code == 0, res.output
    assert f"taking over the lock of a run that stopped without releasing it (pid {proc.pid}" in res.output


def test_two_trainings_started_at_once_on_one_folder(toy, tmp_path):
    """Exactly one runs, the other exits 2 naming the holder; every file left is the winner's."""
    data, cfg = toy
    out = tmp_path / "run"
    procs = {}
    for seed in (1, 2):
        with (tmp_path / f"seed{seed}.txt").open("w") as fh:
            procs[seed] = subprocess.Popen(train_cmd(data, cfg, out, "--seed", str(seed)), env=ENV, stdout=fh,
                                           stderr=subprocess.STDOUT)
    codes = {seed: proc.wait(timeout=600) for seed, proc in procs.items()}
    outputs = {seed: (tmp_path / f"seed{seed}.txt").read_text() for seed in procs}
    assert sorted(codes.values()) == [0, 2], outputs
    winner = next(seed for seed, code in codes.items() if code == 0)
    loser = outputs[3 - winner]
    assert "in use by another run (pid " in " ".join(loser.split()) and "Traceback" not in loser, loser
    assert json.loads((out / "config.json").read_text())["seed"] == winner
    assert json.loads((out / "result.json").read_text())["config"]["seed"] == winner
    assert json.loads((out / "model" / "config.json").read_text())["seed"] == winner
    epochs = [json.loads(line)["epoch"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]
    assert not (out / LOCK_FILE).exists() and not list(out.glob(".tmp-*"))


WRITER = """
import sys
import numpy as np
from htc.cli import save_npy_atomic
for _ in range(5):
    save_npy_atomic(sys.argv[1], np.full(4_000_000, int(sys.argv[2]), dtype=np.float32))  # 16 MB
"""


def test_two_writers_of_one_npy_never_mix_their_data(tmp_path):
    path = tmp_path / "proba.npy"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(v)], env=ENV, stderr=subprocess.PIPE,
                              text=True) for v in (1, 2)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    data = np.load(path)
    assert data.shape == (4_000_000,) and np.unique(data).size == 1
    assert [p.name for p in tmp_path.iterdir()] == ["proba.npy"]


# --------------------------------------------------------------------------- 3. regular files only


def test_evaluate_refuses_a_special_file_and_writes_through_a_link(tmp_path):
    tax = Taxonomy.from_paths([["A", "A1"], ["B"]])
    tax.to_file(tmp_path / "t.taxonomy")
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"token": ["x"], "label": ["A1"]}\n')
    args = ["evaluate", "-t", str(tmp_path / "t.taxonomy"), "--gold", str(gold), "--pred", str(gold)]
    # /dev/full is only checked, never written: a writer that replaced special files would replace it
    with pytest.raises(ValueError, match="/dev/full: not a regular file \\(a character device\\)"):
        writable_target("/dev/full")
    fifo = tmp_path / "pipe"  # a special file of the test's own
    os.mkfifo(fifo)
    _error(runner.invoke(app, [*args, "--json", str(fifo)]), f"{fifo}: not a regular file (a named pipe)")
    assert fifo.is_fifo()
    target = tmp_path / "figures.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert runner.invoke(app, [*args, "--json", str(link)]).exit_code == 0
    assert link.is_symlink() and "metrics" in json.loads(target.read_text())
    _error(runner.invoke(app, [*args, "--json", str(tmp_path)]), "not a regular file (a folder)")
    with pytest.raises(ValueError, match="not a regular file"):
        save_npy_atomic(fifo, np.zeros(3))
    assert fifo.is_fifo()


# --------------------------------------------------------------------------- 4. no traceback


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device,needle", [("cuda", "no CUDA GPU"), ("cuda:2", "no CUDA GPU"),
                                           ("tpu9", "not a torch device"), ("meta", "not meta")])
def test_a_device_the_machine_lacks_is_refused_before_any_work(toy, tmp_path, device, needle):
    out = tmp_path / "run"
    start = time.monotonic()
    _error(_train(toy, out, "--device", device), f"--device {device}", needle)
    assert time.monotonic() - start < 20 and not out.exists()


def _damage(model: Path, how: str) -> Path:
    if how == "truncated head":
        path = model / "head.safetensors"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "corrupt meta":
        path = model / "meta.json"
        path.write_text("{'in_dim': 3")
    elif how == "meta without in_dim":
        path = model / "meta.json"
        meta = json.loads(path.read_text())
        del meta["in_dim"]
        path.write_text(json.dumps(meta))
    elif how == "truncated tfidf":
        path = model / "encoder" / "tfidf.json"
        path.write_text(path.read_text()[:40])
    else:  # idf weights cut short
        path = model / "encoder" / "tfidf_idf.npy"
        path.write_bytes(path.read_bytes()[:100])
    return path


@pytest.mark.parametrize("how", ["truncated head", "corrupt meta", "meta without in_dim", "truncated tfidf",
                                 "truncated idf"])
def test_a_model_file_that_fails_to_load_names_itself(trained, tmp_path, toy, how):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(trained / "model", model)
    path = _damage(model, how)
    data, _ = toy
    res = runner.invoke(app, ["predict", "--model", str(model), "-i", str(data / "toy_test.json"),
                              "--out", str(tmp_path / "pred")])
    _error(res, str(path))
    assert not (tmp_path / "pred").exists()


def test_one_training_document_is_a_clear_error(tmp_path):
    tax = Taxonomy.from_paths([["A"], ["B"]])
    tax.to_file(tmp_path / "t.taxonomy")
    one = tmp_path / "one.jsonl"
    one.write_text('{"token": ["just one document here"], "label": ["A"]}\n')
    res = runner.invoke(app, ["train", "-t", str(tmp_path / "t.taxonomy"), "--train", str(one), "--dev", str(one),
                              "--epochs", "1", "--out", str(tmp_path / "run")])
    _error(res, "min_df=2", "there are 1", "give more training documents")
    assert "empty vocabulary" not in res.output


# --------------------------------------------------------------------------- 7. umask, labels


def test_head_weights_follow_the_umask(trained):
    modes = {p.name: p.stat().st_mode & 0o777 for p in (trained / "model").iterdir() if p.is_file()}
    assert len(set(modes.values())) == 1, modes
    assert modes["head.safetensors"] == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("bad,name", [("A\x00x", "U+0000"), ("A\u200bx", "U+200B ZERO WIDTH SPACE"),
                                      ("A\x1bx", "U+001B"), ("\ufeffA", "U+FEFF")])
def test_labels_with_control_or_invisible_characters_are_refused_with_file_and_line(tmp_path, bad, name):
    path = tmp_path / "t.taxonomy"
    path.write_text(f"Root\tB\tC\nB\t{bad}\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match=re.escape(f"{path}:2: label ") + ".* holds an invisible or control "
                       "character " + re.escape(f"({name}")):
        Taxonomy.from_file(path)
    res = runner.invoke(app, ["stats", str(path), "-t", str(path)])
    _error(res, f"{path}:2:", name)


def test_nfc_and_nfd_spellings_are_one_label(tmp_path):
    nfc, nfd = "Caf\u00e9", "Cafe\u0301"
    path = tmp_path / "t.taxonomy"
    path.write_text(f"Root\t{nfd}\tB\n{nfc}\tX\n", encoding="utf-8")
    tax = Taxonomy.from_file(path)
    assert tax.nodes == [nfc, "B", "X"] and tax.index(nfd) == tax.index(nfc) == 0
    path.write_text(f"Root\t{nfc}\t{nfd}\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="listed twice"):
        Taxonomy.from_file(path)
    from htc.data import read_jsonl

    path.write_text(f"Root\t{nfc}\tB\n", encoding="utf-8")
    docs = tmp_path / "d.jsonl"
    docs.write_text(json.dumps({"token": ["x"], "label": [nfd]}) + "\n", encoding="utf-8")
    assert read_jsonl(docs, Taxonomy.from_file(path)).y.toarray().tolist() == [[1, 0]]


def test_a_byte_order_mark_before_the_taxonomy_is_stripped(tmp_path):
    path = tmp_path / "t.taxonomy"
    path.write_bytes("\ufeffRoot\tA\tB\nA\tA1\n".encode())
    assert Taxonomy.from_file(path).nodes == ["A", "B", "A1"]


# --------------------------------------------------------------------------- 8. faults

FSIZE = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
from htc.cli import app
app(sys.argv[2:], prog_name="htc")
"""


def test_a_file_size_limit_while_checkpointing_keeps_the_previous_checkpoint(tmp_path):
    from htc.datasets import load_folder
    from htc.train_config import TrainConfig
    from htc.training import Trainer

    _, _, data, cfg = toy_folder(tmp_path, epochs=2, checkpoint_every=1)
    out = tmp_path / "run"
    config = TrainConfig.load(cfg)
    ds = load_folder(data, seed=config.seed)
    Trainer(config, ds.taxonomy, out_dir=out, progress=False).fit(ds.train, ds.dev, stop_after_steps=2)
    ckpt = out / "checkpoint.pt"
    saved = ckpt.read_bytes()
    limit = len(saved) // 2
    res = subprocess.run([sys.executable, "-c", FSIZE, str(limit), "train", "--data", str(data), "--config", str(cfg),
                          "--out", str(out), "--resume"], env=ENV, capture_output=True, text=True, timeout=600)
    text = " ".join((res.stdout + res.stderr).split())
    assert res.returncode == 2, text
    assert "Traceback" not in text and f"cannot write {ckpt}" in text and "the previous one is kept" in text, text
    assert ckpt.read_bytes() == saved
    assert not list(out.glob(".tmp-*")) and not (out / LOCK_FILE).exists()
    res = _train((data, cfg), out, "--resume")  # the limit lifted: the run goes on from it
    assert res.exit_code == 0, res.output


def test_sigterm_stops_training_at_once_and_resume_gives_the_same_result(tmp_path):
    data, cfg = dataset(tmp_path)
    full, cut = tmp_path / "full", tmp_path / "cut"
    finish(train_cmd(data, cfg, full))
    log = tmp_path / "cut.txt"
    with log.open("w") as fh:
        proc = subprocess.Popen(train_cmd(data, cfg, cut), env=ENV, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not mid_epoch_state(cut / "checkpoint.pt"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - start < 15  # a few seconds, on a busy machine
    text = log.read_text()
    assert code == 143 and "stopped by SIGTERM" in text and "Traceback" not in text, text
    assert not (cut / LOCK_FILE).exists() and not list(cut.glob(".tmp-*"))
    assert not (cut / "result.json").exists()
    finish(train_cmd(data, cfg, cut, "--resume"))
    for name in ("test_proba.npy", "dev_proba.npy"):
        assert np.array_equal(np.load(full / name), np.load(cut / name)), name
    assert (full / "model" / "head.safetensors").read_bytes() == (cut / "model" / "head.safetensors").read_bytes()


# --------------------------------------------------------------------------- fuzz

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(label=st.text(st.characters(blacklist_characters="\t\n\r"), min_size=1, max_size=12))
def test_any_label_is_kept_as_nfc_text_or_refused_with_file_and_line(tmp_path, label):
    import unicodedata

    path = tmp_path / "t.taxonomy"
    path.write_text(f"Root\tB\nB\t{label}\n", encoding="utf-8", errors="surrogatepass")
    try:
        tax = Taxonomy.from_file(path)
    except TaxonomyError as err:
        assert str(err).startswith(f"{path}:"), err
        return
    stripped = unicodedata.normalize("NFC", label.strip())
    assert all(unicodedata.category(c) not in ("Cc", "Cs", "Co", "Cn") for c in "".join(tax.nodes))
    assert tax.nodes[-1] == stripped and unicodedata.is_normalized("NFC", tax.nodes[-1])


@FUZZ
@given(run=st.one_of(st.none(), st.binary(max_size=40), st.dictionaries(st.text(max_size=5), st.text(max_size=8),
                                                                          max_size=3).map(json.dumps).map(str.encode)),
       config=st.one_of(st.none(), st.binary(max_size=40),
                        st.sampled_from([b'{"encoder": 1, "loss": 2}', b'{"episodes_per_collect": 2}', b"[1]"])))
def test_any_run_folder_content_gives_a_kind_or_a_clear_refusal(tmp_path_factory, run, config):
    from htc.run_folder import RunFolderError

    folder = tmp_path_factory.mktemp("f")
    if run is not None:
        (folder / RUN_FILE).write_bytes(run)
    if config is not None:
        (folder / "config.json").write_bytes(config)
    try:
        kind = folder_kind(folder)
    except RunFolderError as err:
        assert str(err).startswith(f"{folder / RUN_FILE}: damaged"), err
        return
    assert kind is None or isinstance(kind, str)


def test_a_file_system_without_locks_runs_and_says_so(tmp_path, monkeypatch, capsys):
    import errno
    import fcntl

    from htc.run_folder import claim

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    out = tmp_path / "run"
    with claim(out, "htc train") as run:
        run.record(new=True)
        (out / "log.jsonl").write_text("{}\n")
    assert "cannot lock the run folder (No locks available)" in capsys.readouterr().err
    assert json.loads((out / RUN_FILE).read_text())["kind"] == "htc train"


def test_a_new_run_in_a_used_folder_logs_only_itself(toy, trained, tmp_path):
    import shutil

    out = tmp_path / "again"
    shutil.copytree(trained, out)
    run_id = json.loads((out / RUN_FILE).read_text())["run_id"]
    assert _train(toy, out).exit_code == 0  # a new run (no --resume) in a folder that held one
    epochs = [json.loads(line)["epoch"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]
    assert json.loads((out / RUN_FILE).read_text())["run_id"] != run_id
