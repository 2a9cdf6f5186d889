"""Run folders that belong to one run, and atomic writes that replace only regular files.

A run folder (``htc train --out``, ``htc reproduce --out``) records in ``run.json`` the command that
made it and a run id; a command refuses a folder made by another one (also with ``--resume``). One
process writes a folder at a time: :func:`claim` holds an advisory lock (``fcntl.flock``) on
``OUT/.lock`` for the whole run; a second run on the folder is refused naming the process that holds
it (pid and host), and the lock of a run that was killed is taken over (and said so).

Atomic writes (:func:`atomic_path`) write a uniquely named temporary file in the same folder
(:func:`tempfile.mkstemp`), then rename it over the destination. They replace only a regular file or
create a new one: special files such as ``/dev/full`` are refused, and a symbolic link is written
through (its target is replaced; the link stays a link). The written file gets the permissions a new
file gets (``0o666`` less the umask).

(critkl has its own copy of this logic: the two packages do not import each other.)
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

RUN_FILE = "run.json"
LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"  # every temporary file of an atomic write starts with it


class RunFolderError(ValueError):
    """A run folder that this command may not write: another command's, or one in use."""


def writable_target(path: str | os.PathLike) -> Path:
    """The file an atomic write of ``path`` replaces: ``path``, or the target of a symbolic link.
    Anything that exists and is not a regular file is refused.

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


def follow_umask(path: str | os.PathLike, mode: int = 0o666) -> None:
    """Give ``path`` the permissions a new file gets (``mode`` less the umask); ``mkstemp`` and
    safetensors write ``0o600``."""
    os.chmod(path, mode & ~_umask())


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A unique temporary path beside ``path`` to write; on success it replaces ``path`` (through a
    symbolic link, its target). An error or an interruption leaves ``path`` as it was and removes
    the temporary file.

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


def _config_keys(path: Path) -> set[str]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return set(value) if isinstance(value, dict) else set()


def folder_kind(out: str | os.PathLike) -> str | None:
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
    keys = _config_keys(out / "config.json")
    if "episodes_per_collect" in keys:
        return "critkl rl"
    if {"max_digits", "steps"} <= keys:
        return "critkl pretrain"
    if {"encoder", "loss"} <= keys or (out / "model" / "head.safetensors").is_file():
        return "htc train"
    if (out / "report.md").is_file() and (out / "results.json").is_file():
        return "htc reproduce"
    return None


def check_kind(out: str | os.PathLike, kind: str) -> None:
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
        run, the folder's own for a resumed one (a folder made before ``run.json`` gets one now)."""
        path = self.out / RUN_FILE
        run_id = None
        if not new and path.is_file():
            with contextlib.suppress(OSError, ValueError, AttributeError):
                run_id = json.loads(path.read_text(encoding="utf-8")).get("run_id")
        run_id = run_id or uuid.uuid4().hex
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"kind": self.kind, "run_id": run_id}, indent=1) + "\n", encoding="utf-8")
        return run_id


_HELD: dict[str, list] = {}  # folder (real path) → [lock file descriptor, claims]


def _lock(out: Path, kind: str) -> int:
    import fcntl

    path = out / LOCK_FILE
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise OSError(f"{out}: cannot write in the run folder ({e.strerror})") from None
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
        try:  # the run that held it may have removed the file between our open and our lock
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
def claim(out: str | os.PathLike, kind: str) -> Iterator[RunFolder]:
    """Hold run folder ``out`` for command ``kind`` while the block runs.

    Creates the folder, takes the lock (a second run gets a ``RunFolderError`` naming the holder),
    refuses a folder another command made, and removes the temporary files an interrupted write
    left. On exit the lock file is removed, and so is the folder if the block wrote nothing in it but ``run.json``.
    Claiming a folder this process already holds is allowed (nested).
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
    """While the block runs, SIGTERM stops it as Ctrl-C does: ``KeyboardInterrupt`` in the main
    thread, so a write in progress is abandoned (its temporary file removed) and the last checkpoint
    stays whole."""
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


NO_CHECKPOINT = "no checkpoint to resume from; run without --resume to start a new run"


def run_folder_command(kind: str, checkpoint: str | None = None):
    """Decorator of a command whose ``out`` option is a run folder (``htc train``, ``htc reproduce``).

    The command runs holding the folder (:func:`claim`; ``run.json`` records ``kind`` and the run
    id). ``--resume`` without ``OUT/checkpoint`` is refused. SIGTERM and Ctrl-C stop it with one
    line saying that the last checkpoint is kept (status 143 or 130). Processes other than rank 0 of
    a multi-process run do not claim the folder (rank 0 writes it).
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            out, resume = kwargs.get("out"), bool(kwargs.get("resume", False))
            if out is None or int(os.environ.get("RANK", "0")) != 0:
                return fn(*args, **kwargs)
            interrupted = None
            try:
                with stop_on_signals(), claim(out, kind) as run:
                    if resume and checkpoint is not None and not (Path(out) / checkpoint).is_file():
                        raise RunFolderError(f"{out}: {NO_CHECKPOINT}")
                    run.record(new=not resume)
                    return fn(*args, **kwargs)
            except KeyboardInterrupt as err:
                interrupted = str(err) or "SIGINT"
            import typer

            typer.secho(f"error: stopped by {interrupted}; the last checkpoint in {out} is kept"
                        + (": add --resume to continue" if checkpoint else ""), err=True, fg="red")
            raise typer.Exit(143 if interrupted == "SIGTERM" else 130)

        return wrapper

    return decorate
