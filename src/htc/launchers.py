"""Where the runs of an htc study execute: this machine (``local``, the default: ``htc reproduce``'s
process pool, ``htc multipath-study``'s loop over seeds), a Ray cluster (``ray``) or a Slurm cluster
through submitit (``submitit``).

A run (one loss × seed, or one seed) stays the unit of work whichever launcher runs it; its scores come
back to this process, which writes the report. A run that fails (an error, or its process killed) is
submitted again, ``retries`` times; a run still failing after that is reported (:class:`RunsFailed`),
never counted. submitit keeps its job files in ``OUT/submitit``, which must be on a filesystem every
machine shares.

>>> from htc.launchers import RayLauncher, launching
>>> from htc.multipath_study import MultipathStudyConfig, run
>>> with launching(RayLauncher(address="auto")):  # doctest: +SKIP
...     run(MultipathStudyConfig(seeds=20, out="runs/htc-multipath"), console)

``ray`` and ``submitit`` are optional extras (``pip install 'htc[ray]'``, ``'htc[submitit]'``), imported
only when a launcher of theirs runs.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

LAUNCHERS = ("local", "ray", "submitit")
SUBMITIT_CLUSTERS = ("slurm", "local", "debug")


class RunsFailed(RuntimeError):
    """Runs that still failed after their retries: ``failures`` maps each run to its last error."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = dict(failures)
        lines = "\n".join(f"  {key}: {err}" for key, err in self.failures.items())
        super().__init__(f"{len(self.failures)} run(s) failed after their retries (not counted, no "
                         f"report written):\n{lines}")


def _short(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}".strip()
    return text if len(text) <= 600 else text[:600] + " …"


def _call_in(cwd: str, fn: Callable, *args):
    """``fn(*args)`` run from ``cwd``, the driver's folder: relative paths (``--out``, a model folder)
    then mean on every node what they mean to the driver (on a filesystem mounted at the same path)."""
    os.chdir(cwd)
    return fn(*args)


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"launcher {module!r} needs the {module} package: pip install "
                          f"'htc[{module}]'") from None


@dataclass
class RayLauncher:
    """Runs as Ray tasks: on the cluster at ``address`` (``"auto"``: the one this machine belongs to,
    ``ray://host:10001``: a remote one), or on a Ray instance started here with ``num_cpus`` when
    ``address`` is None. Each run asks for ``cpus_per_run`` CPUs (its threads) and ``memory_gb``."""

    address: str | None = None
    num_cpus: int | None = None
    cpus_per_run: int = 1
    memory_gb: float | None = None
    retries: int = 1
    name: str = "ray"

    def __post_init__(self) -> None:
        _check_common(self.cpus_per_run, self.memory_gb, self.retries)
        if self.num_cpus is not None and self.num_cpus < 1:
            raise ValueError(f"num_cpus must be >= 1 or None, got {self.num_cpus!r}")

    def map(self, fn: Callable, calls: dict, jobs: int = 0, on_done: Callable | None = None) -> dict:
        """``{key: fn(*args)}`` for ``calls = {key: args}``, at most ``jobs`` in flight (0: all)."""
        ray = _need("ray")
        if not ray.is_initialized():
            if self.address is None:
                ray.init(num_cpus=self.num_cpus or os.cpu_count(), include_dashboard=False)
            else:
                ray.init(address=self.address)
        opts = {"num_cpus": self.cpus_per_run, "max_retries": self.retries, "retry_exceptions": True}
        if self.memory_gb:
            opts["memory"] = int(self.memory_gb * 2**30)
        task, cwd = ray.remote(**opts)(_call_in), os.getcwd()
        # an object shared by several runs (a config, features) goes to the object store once
        seen: dict[int, int] = {}
        for args in calls.values():
            for a in args:
                seen[id(a)] = seen.get(id(a), 0) + 1
        stored: dict = {}
        for args in calls.values():
            for a in args:
                small = isinstance(a, (str, int, float, bool, type(None), Path))
                if seen[id(a)] > 1 and not small and id(a) not in stored:
                    stored[id(a)] = ray.put(a)
        pending = list(calls.items())
        inflight: dict = {}
        results, failures = {}, {}
        while pending or inflight:
            while pending and len(inflight) < (jobs or len(calls)):
                key, args = pending.pop(0)
                inflight[task.remote(cwd, fn, *(stored.get(id(a), a) for a in args))] = key
            ready, _ = ray.wait(list(inflight), num_returns=1)
            for ref in ready:
                key = inflight.pop(ref)
                try:
                    results[key] = ray.get(ref)
                except Exception as e:  # Ray already retried it `retries` times
                    failures[key] = _short(e)
                    continue
                if on_done is not None:
                    on_done(key, results[key])
        if failures:
            raise RunsFailed(failures)
        return results


@dataclass
class SubmititLauncher:
    """Runs as submitit jobs: Slurm jobs (``cluster="slurm"``), or local processes (``"local"``) or
    in-process calls (``"debug"``) for testing. ``folder`` holds submitit's job files and logs (a shared
    filesystem on Slurm); each job asks for ``cpus_per_run`` CPUs, ``mem_gb``, ``time_min`` minutes, on
    ``partition``."""

    folder: str | Path
    cluster: str = "slurm"
    partition: str | None = None
    cpus_per_run: int = 1
    mem_gb: float | None = None
    time_min: int = 60
    retries: int = 1
    poll_s: float = 1.0
    name: str = "submitit"

    def __post_init__(self) -> None:
        _check_common(self.cpus_per_run, self.mem_gb, self.retries)
        if self.cluster not in SUBMITIT_CLUSTERS:
            raise ValueError(f"cluster must be one of {SUBMITIT_CLUSTERS}, got {self.cluster!r}")
        if self.time_min < 1:
            raise ValueError(f"time_min must be >= 1, got {self.time_min!r}")

    def executor(self):
        submitit = _need("submitit")
        ex = submitit.AutoExecutor(folder=str(self.folder), cluster=self.cluster)
        params: dict = {"timeout_min": self.time_min, "cpus_per_task": self.cpus_per_run}
        if self.mem_gb:
            params["mem_gb"] = self.mem_gb
        if self.partition and self.cluster == "slurm":
            params["slurm_partition"] = self.partition
        ex.update_parameters(**params)
        return ex

    def map(self, fn: Callable, calls: dict, jobs: int = 0, on_done: Callable | None = None) -> dict:
        """``{key: fn(*args)}`` for ``calls = {key: args}``, at most ``jobs`` in flight (0: all)."""
        ex, cwd = self.executor(), os.getcwd()
        pending = [(key, args, 0) for key, args in calls.items()]
        inflight: list = []
        results, failures = {}, {}
        while pending or inflight:
            while pending and len(inflight) < (jobs or len(calls)):
                key, args, tries = pending.pop(0)
                job = ex.submit(_call_in, cwd, fn, *args)
                if self.cluster != "slurm":  # no shared filesystem to wait for: a job without a result died
                    job._results_timeout_s = 0
                inflight.append((job, key, args, tries))
            still = []
            for job, key, args, tries in inflight:
                if not job.done():
                    still.append((job, key, args, tries))
                    continue
                try:
                    results[key] = job.result()
                except Exception as e:  # the job raised, or its process died or timed out
                    if tries < self.retries:
                        pending.append((key, args, tries + 1))
                    else:
                        failures[key] = _short(e)
                    continue
                if on_done is not None:
                    on_done(key, results[key])
            inflight = still
            if inflight:
                time.sleep(self.poll_s)
        if failures:
            raise RunsFailed(failures)
        return results


def _check_common(cpus: int, mem: float | None, retries: int) -> None:
    if cpus < 1:
        raise ValueError(f"cpus_per_run must be >= 1, got {cpus!r}")
    if mem is not None and mem <= 0:
        raise ValueError(f"memory must be > 0 GB or None, got {mem!r}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries!r}")


Launcher = RayLauncher | SubmititLauncher


def make_launcher(name: str, out: str | Path, *, address: str | None = None, cpus_per_run: int = 1,
                  mem_gb: float | None = None, partition: str | None = None, time_min: int = 60,
                  retries: int = 1, cluster: str = "slurm") -> Launcher | None:
    """The launcher the ``--launcher`` options name (None for ``local``: this machine). submitit
    keeps its job files in ``out/submitit``; ``address`` empty or None starts a local Ray instance."""
    if name not in LAUNCHERS:
        raise ValueError(f"--launcher must be one of {', '.join(LAUNCHERS)}, got {name!r}")
    if name == "local":
        return None
    if name == "ray":
        return RayLauncher(address=address or None, cpus_per_run=cpus_per_run, memory_gb=mem_gb,
                           retries=retries)
    return SubmititLauncher(folder=Path(out) / "submitit", cluster=cluster, partition=partition,
                            cpus_per_run=cpus_per_run, mem_gb=mem_gb, time_min=time_min, retries=retries)


_CURRENT: list = []


@contextlib.contextmanager
def launching(launcher: Launcher | None) -> Iterator[Launcher | None]:
    """Within the block, the runs of studies go to ``launcher`` (None: this machine)."""
    _CURRENT.append(launcher)
    try:
        yield launcher
    finally:
        _CURRENT.pop()


def current() -> Launcher | None:
    """The launcher of the innermost :func:`launching` block; None (this machine) outside any."""
    return _CURRENT[-1] if _CURRENT else None
