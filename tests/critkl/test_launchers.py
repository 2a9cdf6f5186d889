"""Study runs through Ray (a local instance) and submitit (its local executor): the same results as the
local process pool, and a run killed in the middle is retried or reported, never counted."""

import json
import os
from pathlib import Path

import pytest

from critkl.study import launchers
from critkl.study.launchers import (
    RayLauncher,
    RunsFailed,
    SubmititLauncher,
    launching,
    make_launcher,
)

TINY = {"episodes": 4, "episodes_per_collect": 2, "minibatch_episodes": 2, "test_episodes": 2, "advantage": "gae",
        "in_dist_episodes": 2, "eval_every": 1}


def _by_value():
    """Ship this module's functions to the workers by value: a worker cannot import a test module."""
    import sys

    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        import ray.cloudpickle  # Ray's own copy

        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    except ImportError:
        pass


def _die_once(marker: str, value: int) -> int:
    """Kills its own process the first time (as a node lost mid-run would), returns ``value`` after."""
    if not Path(marker).exists():
        Path(marker).write_text("killed once")
        os._exit(1)
    return value


def _always_fails(value: int) -> int:
    raise RuntimeError(f"run {value} broke")


def test_options_are_checked_and_named():
    assert make_launcher("local", "out") is None and launchers.current() is None
    with pytest.raises(ValueError, match="--launcher must be one of local, ray, submitit"):
        make_launcher("slurm", "out")
    with pytest.raises(ValueError, match="cpus_per_run"):
        RayLauncher(cpus_per_run=0)
    with pytest.raises(ValueError, match="cluster must be one of"):
        SubmititLauncher("out", cluster="pbs")
    sub = make_launcher("submitit", "out", cluster="local", time_min=5)
    assert sub.folder == Path("out") / "submitit" and sub.time_min == 5
    with launching(sub):
        assert launchers.current() is sub
    assert launchers.current() is None
    from typer.testing import CliRunner

    from critkl.cli import app

    res = CliRunner().invoke(app, ["reproduce", "prioritized-kl", "--launcher", "slurm", "--out", "x"])
    assert res.exit_code != 0 and "--launcher must be one of local, ray, submitit" in res.output


def test_submitit_retries_a_killed_run_and_reports_one_that_keeps_failing(tmp_path):
    pytest.importorskip("submitit")
    _by_value()
    sub = SubmititLauncher(tmp_path / "jobs", cluster="local", retries=1, poll_s=0.2)
    calls = {"a": (str(tmp_path / "a.killed"), 1), "b": (str(tmp_path / "b.killed"), 2)}
    assert sub.map(_die_once, calls, jobs=2) == {"a": 1, "b": 2}
    assert (tmp_path / "a.killed").exists()  # it was killed, then retried
    never = SubmititLauncher(tmp_path / "jobs2", cluster="local", retries=0, poll_s=0.2)
    with pytest.raises(RunsFailed, match=r"1 run\(s\) failed.*\n  c: ") as e:
        never.map(_die_once, {"c": (str(tmp_path / "c.killed"), 3)})
    assert set(e.value.failures) == {"c"}


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


def test_ray_retries_a_killed_run_and_reports_one_that_keeps_failing(tmp_path, ray_local, monkeypatch):
    _by_value()
    monkeypatch.chdir(tmp_path)  # relative paths mean in the workers what they mean here
    calls = {"a": ("a.killed", 1), "b": ("b.killed", 2)}
    assert RayLauncher(retries=1).map(_die_once, calls) == {"a": 1, "b": 2}
    assert (tmp_path / "a.killed").exists()
    with pytest.raises(RunsFailed, match="run 7 broke") as e:
        RayLauncher(retries=0).map(_always_fails, {"x": (7,)})
    assert set(e.value.failures) == {"x"}


# ----------------------------------------------------------------------------- a whole study
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny study's settings from a random N = 1 model (RL on 2 digits)."""
    from critkl.model import build_model, save_model
    from critkl.tokenizer import CharTokenizer

    folder = tmp_path_factory.mktemp("model") / "n1"
    save_model(build_model("tiny", 1, seed=0), CharTokenizer(), folder)
    return {**TINY, "model": str(folder)}


def _timeless(x):
    """results.json without what depends on when and how it ran (wall times, the command)."""
    if isinstance(x, dict):
        return {k: _timeless(v) for k, v in x.items()
                if k not in ("meta", "wall_s", "wall_seconds", "seconds") and not k.endswith("_s")}
    if isinstance(x, list):
        return [_timeless(v) for v in x]
    return x


@pytest.fixture(scope="module")
def two_by_two(tiny, tmp_path_factory):
    """Run the study (2 arms × 2 seeds) in ``out`` through the current launcher; its results.json."""
    import importlib

    reproduce_module = importlib.import_module("critkl.study.reproduce")
    reproduce = reproduce_module.reproduce

    arms = reproduce_module.rl_arms("prioritized-kl", "cpu")[:2]  # prioritized and standard KL

    def run(name: str, launcher=None) -> dict:
        out = tmp_path_factory.mktemp(name)
        mp = pytest.MonkeyPatch()
        mp.setattr(reproduce_module, "rl_arms", lambda *a: arms)
        mp.setattr(reproduce_module, "_claims", lambda experiment, arms, logs, sums, keys:  # per arm
                   reproduce_module._engine_check_claims([a.name for a in arms], arms, sums))
        try:
            with launching(launcher):
                reproduce("prioritized-kl", seeds=2, out=out, jobs=2, overrides=tiny)
        finally:
            mp.undo()
        res = json.loads((out / "results.json").read_text())
        assert {k: len(v) for k, v in res["logs"].items()} == {"prioritized": 2, "standard": 2}
        return res

    return run


@pytest.fixture(scope="module")
def local_results(two_by_two):
    return _timeless(two_by_two("local"))


@pytest.mark.slow  # three tiny studies of 4 runs: minutes on 2 busy cores
def test_a_study_through_submitit_equals_the_local_pool(two_by_two, local_results, tmp_path):
    pytest.importorskip("submitit")
    sub = SubmititLauncher(tmp_path / "jobs", cluster="local", poll_s=0.2)
    assert _timeless(two_by_two("submitit", sub)) == local_results


@pytest.mark.slow  # > 60 s: a local Ray instance and a tiny study of 4 runs
def test_a_study_through_ray_equals_the_local_pool(two_by_two, local_results, ray_local):
    assert _timeless(two_by_two("ray", RayLauncher(cpus_per_run=1))) == local_results


def _train_killed_once(cfg, cache):
    """A study's run whose process is killed once, after its first checkpoint and before it finishes."""
    import threading
    import time

    from critkl.study.runner import _train_one

    folder = Path(cfg.out_dir)
    marker = folder.parent / f"{folder.name}.killed"
    if not marker.exists():
        def kill_after_first_checkpoint() -> None:
            while not (folder / "checkpoint.pt").exists():
                time.sleep(0.02)
            if not (folder / "final").exists():
                marker.write_text("killed after its first checkpoint")
                os._exit(1)

        threading.Thread(target=kill_after_first_checkpoint, daemon=True).start()
    return _train_one(cfg, cache)


@pytest.mark.slow  # a tiny study of 4 runs through submitit, each run killed once
def test_a_study_whose_runs_are_killed_midway_resumes_them_and_equals_the_local_pool(
        two_by_two, local_results, tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    from critkl.study import runner

    _by_value()
    monkeypatch.setattr(runner, "_train_one", _train_killed_once)
    sub = SubmititLauncher(tmp_path / "jobs", cluster="local", retries=1, poll_s=0.2)
    assert _timeless(two_by_two("killed", sub)) == local_results
    killed = list(tmp_path.parent.glob("killed*/runs/*/seed*.killed"))
    assert killed, "no run was killed: the test checked nothing"
