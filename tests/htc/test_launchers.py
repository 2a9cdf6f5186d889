"""htc's studies through Ray (a local instance) and submitit (its local executor): the same results as
on this machine, and a run killed in the middle is retried or reported, never counted."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from htc import launchers
from htc.cli import app
from htc.launchers import RayLauncher, RunsFailed, SubmititLauncher, launching, make_launcher


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


def test_options_are_checked_and_named():
    assert make_launcher("local", "out") is None and launchers.current() is None
    with pytest.raises(ValueError, match="--launcher must be one of local, ray, submitit"):
        make_launcher("dask", "out")
    with pytest.raises(ValueError, match="retries"):
        SubmititLauncher("out", retries=-1)
    res = CliRunner().invoke(app, ["multipath-study", "--launcher", "slurm", "--seeds", "1"])
    assert res.exit_code == 2 and "--launcher must be one of" in res.output


def test_submitit_retries_a_killed_run_and_reports_one_that_keeps_failing(tmp_path):
    pytest.importorskip("submitit")
    _by_value()
    sub = SubmititLauncher(tmp_path / "jobs", cluster="local", retries=1, poll_s=0.2)
    assert sub.map(_die_once, {"a": (str(tmp_path / "a.killed"), 1)}) == {"a": 1}
    never = SubmititLauncher(tmp_path / "jobs2", cluster="local", retries=0, poll_s=0.2)
    with pytest.raises(RunsFailed, match=r"1 run\(s\) failed") as e:
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


def test_ray_retries_a_killed_run(tmp_path, ray_local, monkeypatch):
    _by_value()
    monkeypatch.chdir(tmp_path)  # relative paths mean in the workers what they mean here
    assert RayLauncher(retries=1).map(_die_once, {"a": ("a.killed", 1)}) == {"a": 1}
    assert (tmp_path / "a.killed").exists()
    with pytest.raises(RunsFailed, match="1 run"):
        RayLauncher(retries=0).map(_die_once, {"b": (str(tmp_path / "b.killed"), 2)})


# ----------------------------------------------------------------------------- whole studies
def _timeless(x):
    """A results.json without what depends on when and where it ran (times, workers, the command)."""
    if isinstance(x, dict):
        return {k: _timeless(v) for k, v in x.items()
                if k not in ("meta", "seconds", "wall_s", "wall_seconds", "out")}
    if isinstance(x, list):
        return [_timeless(v) for v in x]
    return x


MULTIPATH = ["multipath-study", "--seeds", "2", "--train-docs", "300", "--test-docs", "300"]


def _multipath(out: Path, *launcher: str) -> dict:
    res = CliRunner().invoke(app, [*MULTIPATH, "--out", str(out), *launcher])
    assert res.exit_code == 0, res.output
    got = json.loads((out / "results.json").read_text())
    assert [r["seed"] for r in got["runs"]] == [0, 1]
    return _timeless(got)


@pytest.fixture(scope="module")
def multipath_here(tmp_path_factory):
    return _multipath(tmp_path_factory.mktemp("here"))


@pytest.mark.slow  # > 60 s on 2 busy cores: the study twice
def test_multipath_study_through_submitit_equals_this_machine(tmp_path, multipath_here):
    pytest.importorskip("submitit")
    got = _multipath(tmp_path, "--launcher", "submitit", "--submitit-cluster", "local")
    assert got == multipath_here
    assert list((tmp_path / "submitit").glob("*_result.pkl"))  # the jobs' files, under --out


@pytest.mark.slow  # > 60 s on 2 busy cores: a local Ray instance's workers import the study
def test_multipath_study_through_ray_equals_this_machine(tmp_path, multipath_here, ray_local):
    assert _multipath(tmp_path, "--launcher", "ray") == multipath_here


def _hwv(tmp_path: Path) -> Path:
    """A small HWV-format folder (as tests/htc/test_reproduce.py's)."""
    words = {"Science": "atom cell", "Physics": "quark field", "Biology": "gene enzyme",
             "Arts": "paint song", "Music": "chord tempo", "Painting": "brush canvas"}
    folder = tmp_path / "hwv"
    folder.mkdir()
    (folder / "hwv.taxonomy").write_text("Root\tScience\tArts\nScience\tPhysics\tBiology\n"
                                         "Arts\tMusic\tPainting\n")
    paths = [["Science", "Physics"], ["Science", "Biology"], ["Arts", "Music"], ["Arts", "Painting"]]
    rng = np.random.default_rng(0)
    for name, n in (("hwv_val.json", 60), ("hwv_test.json", 30)):
        lines = []
        for i in range(n):
            path = paths[i % 4]
            text = " ".join(words[p] for p in path) + " " + " ".join(
                rng.choice(["the", "a", "of", "and", "to"], size=5))
            lines.append(json.dumps({"token": [text], "label": path}))
        (folder / name).write_text("\n".join(lines) + "\n")
    return tmp_path


@pytest.mark.slow  # > 60 s: every loss × 2 seeds, twice
def test_reproduce_through_ray_equals_the_local_pool(tmp_path, ray_local):
    from htc.reproduce import ReproduceConfig, run

    data = str(_hwv(tmp_path))

    def study(name: str, launcher=None) -> dict:
        with launching(launcher):
            out = run(ReproduceConfig(encoder="tfidf", seeds=2, epochs=2, data_dir=data,
                                      out=str(tmp_path / name), jobs=2))
        return _timeless(json.loads((out / "results.json").read_text()))

    assert study("ray", RayLauncher(cpus_per_run=1)) == study("local")
