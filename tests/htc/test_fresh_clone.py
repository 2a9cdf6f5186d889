"""A fresh clone works alone: the repository's files copied to a folder with no ``../shared``
sibling and ``$HTC_DATA_DIR`` unset, then ``load_hwv()``, ``python -m htc.demo`` and one seed of
``htc reproduce`` run from there, on the HWV copy that ships inside htc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _tracked_files() -> list[str]:
    """The files a clone holds: tracked, plus new ones git does not ignore (work in progress)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    res = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, capture_output=True, check=True)
    return [f for f in res.stdout.decode().split("\0") if f and (REPO / f).is_file()]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fresh")
    repo = root / "repo"
    for rel in _tracked_files():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, repo / rel)
    assert not (root / "shared").exists() and not (repo.parent / "shared").exists()
    return repo


def _run(clone: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python args…`` in the clone, importing htc from the clone's sources, without
    ``$HTC_DATA_DIR``."""
    env = {k: v for k, v in os.environ.items() if k not in ("HTC_DATA_DIR", "PYTHONPATH")}
    env["PYTHONPATH"] = str(clone / "src")
    res = subprocess.run([sys.executable, *args], cwd=clone, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert res.returncode == 0, f"{args}\n{res.stdout}\n{res.stderr}"
    return res


def test_load_hwv_in_a_fresh_clone(clone):
    res = _run(clone, "-c", "import htc, json; h = htc.load_hwv(); print(json.dumps(dict("
               "file=htc.__file__, folder=str(h.folder), train=len(h.train), dev=len(h.dev), "
               "test=len(h.test), labels=len(h.taxonomy))))")
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert Path(got["file"]).is_relative_to(clone), got  # the clone's htc, not this checkout's
    assert Path(got["folder"]) == clone / "src" / "htc" / "bundled" / "hwv"
    assert (got["train"] + got["dev"], got["test"], got["labels"]) == (1602, 2003, 1186)


@pytest.mark.slow
def test_demo_and_one_reproduce_seed_in_a_fresh_clone(clone):
    """About 3 min on 2 cores: the demo, then htc reproduce on TF-IDF features with one seed."""
    demo = _run(clone, "-m", "htc.demo", "--out", "runs/demo-htc")
    assert "HWV from" in demo.stdout and "bundled" in demo.stdout
    res = json.loads((clone / "runs/demo-htc/results.json").read_text())
    assert res["dataset"] == "HWV" and Path(res["folder"]).is_relative_to(clone)
    # the kNN model scores far above chance on HWV (0.002 was the synthetic stand-in's figure)
    assert max(r["h_micro_f"] for r in res["decoders"].values()) > 0.3
    _run(clone, "-m", "htc.cli", "reproduce", "--encoder", "tfidf", "--seeds", "1", "--jobs", "2",
         "--out", "runs/htc-reproduce")
    report = (clone / "runs/htc-reproduce/report.md").read_text()
    assert "test 2003" in report or "2003" in report
