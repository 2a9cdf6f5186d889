"""Running the RL arms × seeds of an experiment, in parallel worker processes where cores allow.

Every run writes its own folder ``out/runs/<arm>/seed<k>/`` (``log.jsonl``, ``checkpoint.pt``,
``config.json``); rerunning the same command resumes unfinished runs and skips finished ones, so
an interrupted study loses at most one collect per run. While they train, this process follows their
``log.jsonl`` files and reports the progress of all of them (:class:`LogWatch`).
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import asdict, replace
from pathlib import Path

from ..configbase import field_defaults
from ..rl.config import RLConfig, config_diff
from .aggregate import HELDOUT, read_log
from .arm import Arm


def run_dir(out: Path, arm: Arm, seed: int) -> Path:
    return Path(out) / "runs" / arm.name / f"seed{seed}"


def run_config(base: dict, arm: Arm, seed: int, out: Path, threads: int) -> RLConfig:
    """The RLConfig of one (arm, seed): scale settings, then the arm's overrides."""
    cfg = RLConfig(**{**base, **arm.overrides})
    return replace(cfg, seed=seed, out_dir=str(run_dir(out, arm, seed)), threads=threads)


def _is_finished(folder: Path) -> bool:
    return (folder / "final" / "config.json").is_file()


# Fields that may differ between a finished run and the request that reads it back.
_WHERE_FIELDS = ("out_dir", "threads")


def check_same_config(folder: Path, cfg: RLConfig) -> None:
    """Refuse to read back a finished run whose ``config.json`` differs from ``cfg`` resolved (other than
    where it ran: folder, threads), so a changed ``--set`` never mixes in stale runs.

    Raises ValueError naming the file and the differing fields.
    """
    path = Path(folder) / "config.json"
    try:
        stored = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read the finished run's config ({e})") from None
    want = asdict(cfg.resolved())
    diff = config_diff(stored, want, ignore=_WHERE_FIELDS, defaults=field_defaults(RLConfig))
    if diff:
        shown = ", ".join(f"{k}: run {stored.get(k)!r} vs now {want.get(k)!r}" for k in diff)
        raise ValueError(f"{path}: this finished run was made with other settings ({shown}); "
                         "use another --out, or the settings it was made with")


def shared_start_evaluations(configs: list[RLConfig], cache: Path, threads: int) -> int:
    """Evaluate each distinct start (model and evaluation settings) of ``configs`` that ``cache`` lacks,
    once, in this process on ``threads`` threads, before the runs start: parallel runs would otherwise
    each compute the same first evaluation. Returns how many were computed.

    Runs that resume from a checkpoint need none, and a single run computes its own."""
    import torch

    from ..rl.trainer import CHECKPOINT, Trainer, _read_json, start_key

    stored = _read_json(cache)
    todo = {}
    for cfg in configs:
        key = start_key(cfg.resolved())
        if key not in stored and not (Path(cfg.out_dir) / CHECKPOINT).is_file():
            todo.setdefault(key, cfg)
    if len(configs) < 2 or not todo:
        return 0
    before = torch.get_num_threads()
    try:
        for cfg in todo.values():
            Trainer(replace(cfg, threads=threads)).start_evaluation(cache)
    finally:
        torch.set_num_threads(before)
    return len(todo)


def _train_one(cfg: RLConfig, start_cache: Path | None = None) -> str:
    from ..rl.trainer import train

    return str(train(cfg, resume=True, start_cache=start_cache))


class LogWatch:
    """The latest record of each ``log.jsonl`` being written by worker processes, read incrementally."""

    def __init__(self, folders) -> None:
        self.offsets = {Path(f): 0 for f in folders}
        self.last: dict[Path, dict] = {}
        self.last_eval: dict[Path, dict] = {}

    def poll(self) -> None:
        for folder, offset in self.offsets.items():
            path = folder / "log.jsonl"
            try:
                if path.stat().st_size < offset:  # the run started afresh
                    offset = 0
                    self.last.pop(folder, None)
                    self.last_eval.pop(folder, None)
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
            except OSError:
                continue
            end = chunk.rfind(b"\n") + 1  # whole lines only
            self.offsets[folder] = offset + end
            for line in chunk[:end].splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                self.last[folder] = rec
                if HELDOUT in rec:
                    self.last_eval[folder] = rec

    def total(self, key: str) -> float:
        return sum(r.get(key, 0) for r in self.last.values())


def every(seconds: float, fn) -> threading.Event:
    """Call ``fn()`` every ``seconds`` in a daemon thread until the returned event is set."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            fn()

    threading.Thread(target=loop, daemon=True).start()
    return stop


def _rl_note(folder: Path, rec: dict) -> str:
    return f"{folder.parent.name}/{folder.name} {rec.get(HELDOUT, math.nan):.3f}"


def run_all(base: dict, arms: list[Arm], seeds: int, out: Path, jobs: int = 0,
            console=None) -> list[tuple[Arm, int, Path]]:
    """:func:`_run_all` holding the study folder (:func:`critkl.run_folder.claim`): ``run.json`` records
    it as a ``critkl study`` folder; a second study on the same folder, or a folder of another command,
    is refused. Each run also holds its own folder."""
    from ..run_folder import RUN_FILE, claim

    with claim(out, "critkl study") as folder:
        folder.record(new=not (Path(out) / RUN_FILE).is_file())
        return _run_all(base, arms, seeds, out, jobs, console)


def _run_all(base: dict, arms: list[Arm], seeds: int, out: Path, jobs: int = 0,
             console=None) -> list[tuple[Arm, int, Path]]:
    """Train every (arm, seed) not yet finished; returns ``(arm, seed, run folder)`` for all.

    With a ``console``, says what it starts and reports the progress of all runs (episodes done, the latest
    held-out accuracy of each run, elapsed time and ETA): a line every few percent or ~20 s in a log, rich's
    bar on a terminal."""
    cores = os.cpu_count() or 1
    todo, runs = [], []
    for arm in arms:
        for seed in range(arm.seeds(seeds)):
            folder = run_dir(out, arm, seed)
            runs.append((arm, seed, folder))
            if _is_finished(folder):
                check_same_config(folder, run_config(base, arm, seed, out, 1))
            else:
                todo.append((arm, seed))
    from .launchers import current

    launcher = current()  # None: this machine's process pool
    if launcher is None:
        jobs = max(1, min(jobs or cores, len(todo) or 1))
        threads = max(1, cores // jobs)
    else:  # each run gets its own CPUs from the cluster; jobs caps the runs in flight (0: all)
        jobs, threads = max(0, jobs), launcher.cpus_per_run
    # every config is checked on construction (RLConfig.__post_init__), before anything starts
    configs = [run_config(base, arm, seed, out, threads) for arm, seed in todo]
    say = (lambda text: console.print(text, soft_wrap=True, highlight=False)) if console is not None else (lambda text: None)
    total = sum(math.ceil(c.episodes / c.episodes_per_collect) * c.episodes_per_collect for c in configs)
    where = (f"on {jobs} process(es) × {threads} thread(s)" if launcher is None else
             f"through {launcher.name}, {threads} CPU(s) per run")
    say(f"{len(runs)} runs ({len(runs) - len(todo)} already done) {where}: {total:,} episodes to train"
        + (f", {rough_minutes(configs, jobs or len(configs))}" if todo else ""))
    cache = Path(out) / "start_eval.json"  # every run from the same start model shares its first evaluation
    watch = LogWatch(Path(c.out_dir) for c in configs)
    watch.poll()
    from ..progress import Progress

    with Progress(f"RL ({len(configs)} runs)", total, unit="episodes", done=watch.total("episodes"),
                  file=getattr(console, "file", None), enabled=console is not None and bool(todo)) as bar:
        lock = threading.Lock()

        def report() -> None:
            with lock:
                watch.poll()
                evals = sorted(watch.last_eval.items())
                info = ("held-out acc " + ", ".join(_rl_note(f, r) for f, r in evals) if 0 < len(evals) <= 4
                        else "" if watch.last else "loading the models and evaluating the start model")
                bar.update(watch.total("episodes"), info=info)

        def done(key, _) -> None:
            rec = read_log(Path(key))
            with lock:
                bar.line(f"done: {key} (held-out accuracy {rec[0].get(HELDOUT, math.nan):.3f} at the start → "
                         f"{rec[-1].get(HELDOUT, math.nan):.3f} at the end)")

        if todo and shared_start_evaluations(configs, cache, cores):
            report()
        stop = every(5.0, report)
        try:
            (run_parallel if launcher is None else launcher.map)(
                _train_one, {cfg.out_dir: (cfg, cache) for cfg in configs}, jobs,
                done if console is not None else None)
        finally:
            stop.set()
        report()
    return runs


def rough_minutes(configs: list[RLConfig], jobs: int) -> str:
    """``"about 7m12s on 2 core(s)"`` for runs of the shipped tiny models (:func:`critkl.rl.config.rough_seconds`)."""
    from ..progress import duration
    from ..rl.config import rough_seconds

    secs = [rough_seconds(c) for c in configs]
    if not secs or None in secs:
        return "ETA in the progress lines"
    cores = min(os.cpu_count() or 1, max(jobs, 1) * max(c.threads or 1 for c in configs))
    return f"about {duration(sum(secs) / cores)} on {cores} core(s) (rough)"


def run_parallel(fn, calls: dict, jobs: int, on_done=None) -> dict:
    """``{key: fn(*args)}`` for ``calls = {key: args}``, in ``jobs`` spawned processes (in order, in
    this process, when ``jobs == 1``); ``on_done(key, result)`` as each finishes. Inside
    :func:`critkl.study.launchers.launching`, the calls go to that launcher instead."""
    from .launchers import current

    if current() is not None:
        return current().map(fn, calls, jobs, on_done)
    results = {}
    if jobs == 1:
        for key, args in calls.items():
            results[key] = fn(*args)
            if on_done is not None:
                on_done(key, results[key])
        return results
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(fn, *args): key for key, args in calls.items()}
        for fut in as_completed(futures):
            key = futures[fut]
            results[key] = fut.result()
            if on_done is not None:
                on_done(key, results[key])
    return results
