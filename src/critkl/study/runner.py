"""Running the RL arms × seeds of an experiment, in parallel worker processes where cores allow.

Every run writes its own folder ``out/runs/<arm>/seed<k>/`` (``log.jsonl``, ``checkpoint.pt``,
``config.json``); rerunning the same command resumes unfinished runs and skips finished ones, so
an interrupted study loses at most one collect per run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path

from ..rl.config import RLConfig, config_diff
from .experiments import Arm


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
    diff = config_diff(stored, want, ignore=_WHERE_FIELDS)
    if diff:
        shown = ", ".join(f"{k}: run {stored.get(k)!r} vs now {want.get(k)!r}" for k in diff)
        raise ValueError(f"{path}: this finished run was made with other settings ({shown}); "
                         "use another --out, or the settings it was made with")


def _train_one(cfg: RLConfig, start_cache: Path | None = None) -> str:
    from ..rl.trainer import train

    return str(train(cfg, resume=True, start_cache=start_cache))


def run_all(base: dict, arms: list[Arm], seeds: int, out: Path, jobs: int = 0,
            console=None) -> list[tuple[Arm, int, Path]]:
    """Train every (arm, seed) not yet finished; returns ``(arm, seed, run folder)`` for all."""
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
    jobs = max(1, min(jobs or cores, len(todo) or 1))
    threads = max(1, cores // jobs)
    # every config is checked on construction (RLConfig.__post_init__), before anything starts
    configs = [run_config(base, arm, seed, out, threads) for arm, seed in todo]
    say = console.print if console is not None else (lambda *a, **k: None)
    say(f"{len(runs)} runs ({len(runs) - len(todo)} already done) on {jobs} process(es) × "
        f"{threads} thread(s)")
    cache = Path(out) / "start_eval.json"  # every run from the same start model shares its first evaluation
    run_parallel(_train_one, {cfg.out_dir: (cfg, cache) for cfg in configs}, jobs,
                 lambda key, _: say(f"done: {key}"))
    return runs


def run_parallel(fn, calls: dict, jobs: int, on_done=None) -> dict:
    """``{key: fn(*args)}`` for ``calls = {key: args}``, in ``jobs`` spawned processes (in order, in
    this process, when ``jobs == 1``); ``on_done(key, result)`` as each finishes."""
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
