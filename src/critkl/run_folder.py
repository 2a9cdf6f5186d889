"""The run folder shared by ``critkl pretrain`` and ``critkl rl``.

Every run folder holds ``config.json`` (the run's settings), ``log.jsonl`` (one JSON record per
logged step), ``tensorboard/`` (the same scalars, with ``--tensorboard``), a checkpoint written
atomically (a temporary name, then a rename: an interruption leaves the previous one intact) and,
at the end, ``final/`` (a model folder for :func:`critkl.load_model` and ``from_pretrained``).

A run folder belongs to one run: ``run.json`` records the command that made it (``critkl pretrain`` or
``critkl rl``) and a run id, and a command refuses a folder made by another one (also with
``--resume``). One process writes a folder at a time: :func:`claim` holds an advisory lock on
``OUT/.lock`` for the whole run, a second run on the same folder is refused naming the process that
holds it, and the lock of a run that was killed is taken over (and said so).

Atomic writes (:func:`atomic_path`, :func:`write_text_atomic`) go to a uniquely named temporary file in
the same folder, then a rename; they replace only regular files (or create new ones), refuse special
files such as ``/dev/full``, and write through a symbolic link to its target (the link stays a link).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import stat
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

TENSORBOARD_DIR = "tensorboard"
RUN_FILE = "run.json"
LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"  # every temporary file or folder of an atomic write starts with it


class RunFolderError(ValueError):
    """A run folder that this command may not write: another command's, or one in use."""


def writable_target(path: str | Path) -> Path:
    """The file an atomic write of ``path`` replaces: ``path`` itself, or the target of a symbolic
    link (followed to the end). Refuses anything that exists and is not a regular file.

    >>> writable_target("/dev/null")
    Traceback (most recent call last):
    ...
    ValueError: /dev/null: not a regular file (a character device); give the path of a file to write
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target
    except OSError as e:
        raise ValueError(f"{path}: cannot be written ({e.strerror or e})") from None
    if not stat.S_ISREG(mode):
        kinds = {stat.S_ISDIR: "a folder", stat.S_ISCHR: "a character device", stat.S_ISBLK: "a block device",
                 stat.S_ISFIFO: "a named pipe", stat.S_ISSOCK: "a socket"}
        kind = next((name for test, name in kinds.items() if test(mode)), "not a plain file")
        raise ValueError(f"{path}: not a regular file ({kind}); give the path of a file to write")
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def follow_umask(path: str | Path, mode: int = 0o666) -> None:
    """Give a file the permissions a new file gets (``mode`` less the umask): ``mkstemp`` and
    libraries that use it write ``0o600``."""
    os.chmod(path, mode & ~_umask())


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (unique, :func:`tempfile.mkstemp`) to write; on success it
    replaces ``path`` (through a symbolic link, its target) with the permissions a new file gets. An
    error or an interruption leaves ``path`` as it was and removes the temporary file.

    >>> p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(p) as tmp:
    ...     _ = tmp.write_text("whole")
    >>> p.read_text()
    'whole'
    """
    path = Path(path)
    target = writable_target(path)
    folder = target.parent
    try:
        fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{target.name}.", suffix=target.suffix, dir=folder)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: its folder {folder} does not exist") from None
    except OSError as e:
        raise OSError(f"{path}: cannot write in {folder} ({e.strerror})") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        follow_umask(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "config.json"
    >>> write_text_atomic(p, "{}\\n"); p.read_text()
    '{}\\n'
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _read_config_keys(path: Path) -> set[str]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return set(value) if isinstance(value, dict) else set()


def folder_kind(out: str | Path) -> str | None:
    """The command that made run folder ``out``: its ``run.json``, else what its files show (a folder
    made before ``run.json`` existed); ``None`` for a new, empty or unrecognised folder.

    >>> folder_kind(tempfile.mkdtemp()) is None
    True
    """
    out = Path(out)
    run = out / RUN_FILE
    if run.is_file():
        try:
            kind = json.loads(run.read_text(encoding="utf-8")).get("kind")
        except (OSError, ValueError, AttributeError):
            raise RunFolderError(f"{run}: damaged (not a JSON object with a 'kind'); it records which command "
                                 "made the run folder") from None
        return str(kind) if kind else None
    if (out / "checkpoint").is_dir() or (out / "checkpoint.old").is_dir():
        return "critkl pretrain"
    keys = _read_config_keys(out / "config.json")
    if "episodes_per_collect" in keys:
        return "critkl rl"
    if {"max_digits", "steps"} <= keys:
        return "critkl pretrain"
    if {"encoder", "loss"} <= keys or (out / "model" / "head.safetensors").is_file():
        return "htc train"
    if (out / "start_eval.json").is_file() or (out / "results.json").is_file():
        return "critkl study"
    return None


def check_kind(out: str | Path, kind: str) -> None:
    """Refuse a run folder that another command made (``RunFolderError`` naming both)."""
    found = folder_kind(out)
    if found is not None and found != kind:
        raise RunFolderError(f"{out} holds a `{found}` run; `{kind}` neither continues nor overwrites another "
                             "command's run folder: give another --out")


def _describe(holder: bytes) -> str:
    try:
        info = json.loads(holder.decode("utf-8"))
        return f"pid {info['pid']} on host {info['host']}"
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return "another process"


class RunFolder:
    """A run folder held by this process (see :func:`claim`)."""

    def __init__(self, out: Path, kind: str) -> None:
        self.out, self.kind = out, kind

    def record(self, new: bool) -> str:
        """Write ``run.json`` (the command and the run id) and return the run id: a new id for a new
        run, the folder's id for a resumed one (a folder made before ``run.json`` gets one now)."""
        path = self.out / RUN_FILE
        run_id = None
        if not new and path.is_file():
            with contextlib.suppress(OSError, ValueError, AttributeError):
                run_id = json.loads(path.read_text(encoding="utf-8")).get("run_id")
        run_id = run_id or uuid.uuid4().hex
        write_text_atomic(path, json.dumps({"kind": self.kind, "run_id": run_id}, indent=1) + "\n")
        return run_id


_HELD: dict[str, list] = {}  # folder (real path) → [lock file descriptor, claims]


def _lock(out: Path, kind: str) -> int:
    path = out / LOCK_FILE
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise OSError(f"{out}: cannot write in the run folder ({e.strerror})") from None
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0)
            os.close(fd)
            raise RunFolderError(f"{out} is in use by another run ({_describe(holder)}); one run writes a folder "
                                 "at a time: wait for it to end or give another --out") from None
        except OSError as e:  # a file system without locks (some network ones): run, and say so
            print(f"{out}: cannot lock the run folder ({e.strerror or e}); running without the one-writer check",
                  file=sys.stderr, flush=True)
            return fd
        try:  # the file may have been removed by the run that held it, between our open and lock
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    previous = os.pread(fd, 4096, 0)
    if previous.strip():
        print(f"{out}: taking over the lock of a run that stopped without releasing it ({_describe(previous)})",
              file=sys.stderr, flush=True)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "kind": kind}).encode(), 0)
    return fd


@contextlib.contextmanager
def claim(out: str | Path, kind: str) -> Iterator[RunFolder]:
    """Hold run folder ``out`` for command ``kind`` while the block runs.

    Creates the folder, takes an advisory lock (``fcntl.flock`` on ``OUT/.lock``; a second run on the
    folder gets a ``RunFolderError`` naming the holder's pid and host), refuses a folder another
    command made, and removes the temporary files an interrupted write left. On exit the lock file is
    removed, and so is the folder if the block wrote nothing in it but ``run.json``. Claiming a folder this process
    already holds is allowed (nested).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out}: not a folder (--out is the run folder)")
    key = os.path.realpath(out)
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield RunFolder(out, kind)
        finally:
            _HELD[key][1] -= 1
        return
    check_kind(out, kind)
    created = not out.exists()
    had_run = (out / RUN_FILE).exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"{out}: cannot create the run folder ({e.strerror})") from None
    fd = None
    try:
        fd = _lock(out, kind)
        check_kind(out, kind)  # a run that held the folder until now may have made it
        for leftover in out.glob(f"{TMP_PREFIX}*"):
            if leftover.is_dir() and not leftover.is_symlink():
                import shutil

                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        _HELD[key] = [fd, 1]
        yield RunFolder(out, kind)
    finally:
        _HELD.pop(key, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                (out / LOCK_FILE).unlink()
            os.close(fd)
        with contextlib.suppress(OSError):  # the block wrote nothing but run.json: it goes (the folder too)
            if not had_run and {p.name for p in out.iterdir()} <= {RUN_FILE}:
                (out / RUN_FILE).unlink(missing_ok=True)
                if created:
                    out.rmdir()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM stops it as Ctrl-C (SIGINT) does: ``KeyboardInterrupt`` is raised
    in the main thread, so ``finally`` blocks run, a write in progress is abandoned (its temporary file
    removed) and the last checkpoint stays whole."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def trim_log(path: Path, key: str, last: int) -> None:
    """Keep the records of a ``log.jsonl`` up to ``record[key] == last`` (the step or iteration of the
    checkpoint a run resumes from, which logs the rest again) and drop a line an interruption cut short;
    rewritten atomically. A missing file is left missing.

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> _ = p.write_text('{"step": 1}\\n{"step": 2}\\n{"step": 3}\\n{"st')
    >>> trim_log(p, "step", 2); p.read_text()
    '{"step": 1}\\n{"step": 2}\\n'
    """
    path = Path(path)
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get(key, 0), (int, float)) and record.get(key, 0) <= last:
            kept.append(line + "\n")
    write_text_atomic(path, "".join(kept))


class ScalarWriter:
    """TensorBoard scalars in ``out/tensorboard/`` (needs ``critkl[tensorboard]``).

    Non-numeric and non-finite values of a record are skipped.

    >>> w = ScalarWriter("runs/example")  # doctest: +SKIP
    >>> w.write({"loss": 0.5, "step": 10}, step=10); w.close()  # doctest: +SKIP
    """

    def __init__(self, out: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError("--tensorboard needs the tensorboard package: pip install "
                              "'critkl[tensorboard]'") from None
        self._writer = SummaryWriter(str(Path(out) / TENSORBOARD_DIR))

    def write(self, record: dict, step: int, skip: tuple[str, ...] = ()) -> None:
        for key, value in record.items():
            if key in skip or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(value):
                self._writer.add_scalar(key, value, step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


NO_CHECKPOINT = "no checkpoint to resume from; run without --resume to start a new run"


@contextlib.contextmanager
def command_run(out: str | Path, kind: str, resume: bool, has_checkpoint) -> Iterator[RunFolder]:
    """The run folder of a training command (``critkl pretrain``, ``critkl rl``), held while the block runs.

    Refused, with one ``error:`` line and status 2 and the folder unchanged: a folder in use or made by
    another command (:func:`claim`), ``--resume`` without a checkpoint, a checkpoint without ``--resume``
    (``has_checkpoint()`` tells, under the lock). SIGTERM and Ctrl-C stop the run with one line that
    says the last checkpoint is kept (status 143 or 130).
    """
    import typer

    from .cli_adapter import fail

    interrupted = None
    try:
        with stop_on_signals(), claim(out, kind) as run:
            present = has_checkpoint()
            if resume and not present:
                fail(f"{out}: {NO_CHECKPOINT}")
            if not resume and present:
                fail(f"{out} holds an earlier run's checkpoint: add --resume to continue it, or give another "
                     "--out (or delete the folder) to start afresh")
            yield run
    except RunFolderError as e:
        fail(str(e))
    except KeyboardInterrupt as e:
        interrupted = str(e) or "SIGINT"
    if interrupted is not None:
        typer.secho(f"error: stopped by {interrupted}; the last checkpoint in {out} is kept: add --resume to "
                    "continue", err=True, fg="red")
        raise typer.Exit(143 if interrupted == "SIGTERM" else 130)
