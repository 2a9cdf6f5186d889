"""The two distributions (packages/htc, packages/critkl): what each wheel holds, that htc's core
installs and runs in a fresh environment without torch, and that the versions match."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import htc

REPO = Path(__file__).resolve().parents[2]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")

# Run in the fresh environment: htc's core at work, and no torch anywhere.
CORE_SCRIPT = """
import importlib.metadata, importlib.util, sys
import numpy as np
import htc, htc.data, htc.datasets, htc.decoding, htc.metrics, htc.taxonomy, htc.cli
from htc import Taxonomy, decode, hierarchical_f1_score

tax = Taxonomy.from_paths([["A", "A1"], ["A", "A2"], ["B", "B1"], ["B", "B2"]])
y_true = tax.indicator([["A1"], ["B2"]])
marginals = [dict(A=0.9, A1=0.8, A2=0.1, B=0.1, B1=0.05, B2=0.05),
             dict(A=0.2, A1=0.1, A2=0.1, B=0.8, B1=0.2, B2=0.6)]
proba = np.array([[m[n] for n in tax.nodes] for m in marginals])
y_pred = decode(proba, tax, "optimal_hf")
assert tax.labels_of(y_pred) == [["A", "A1"], ["B", "B2"]], tax.labels_of(y_pred)
assert hierarchical_f1_score(y_true, y_pred, tax) == 1.0
assert "torch" not in sys.modules, "torch was imported"
for name in ("torch", "transformers", "critkl"):
    assert importlib.util.find_spec(name) is None, name + " is installed"
assert htc.__version__ == importlib.metadata.version("htc")
hwv = htc.load_hwv()  # the copy inside the installed package: no data folder, no $HTC_DATA_DIR
assert "site-packages" in str(hwv.folder), hwv.folder
assert (len(hwv.train) + len(hwv.dev), len(hwv.test), len(hwv.taxonomy)) == (1602, 2003, 1186)
print("core ok", htc.__version__)
"""


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def _skip_if_no_index(tmp: Path) -> None:
    """Skip the test when pip cannot download a small wheel (typer) from any package index."""
    probe = _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--retries", "0",
                  "--timeout", "15", "-d", tmp / "probe", "typer"])
    if probe.returncode != 0:
        pytest.skip("no package index reachable to install htc's dependencies "
                    f"(pip download typer: {probe.stderr.strip().splitlines()[-1:]})")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    """Both wheels, built from a clean copy of the repository's files (no stale build/ folder)."""
    tmp = tmp_path_factory.mktemp("dists")
    for name in ("htc", "critkl"):
        shutil.copytree(REPO / "packages" / name, tmp / "packages" / name, ignore=IGNORE)
        shutil.copytree(REPO / "src" / name, tmp / "src" / name, ignore=IGNORE)
    # this environment's setuptools when recent enough (fast, offline); else pip fetches one
    try:
        import setuptools
        own_backend = int(setuptools.__version__.split(".")[0]) >= 77
    except ImportError:
        own_backend = False
    res = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp / "wheels",
                *(["--no-build-isolation"] if own_backend else []),
                tmp / "packages" / "htc", tmp / "packages" / "critkl"])
    if res.returncode != 0 and not own_backend:
        _skip_if_no_index(tmp)
    assert res.returncode == 0, res.stdout + res.stderr
    found = {p.name.split("-")[0]: p for p in (tmp / "wheels").glob("*.whl")}
    assert set(found) == {"htc", "critkl"}, found
    return found


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def _metadata(wheel: Path, member: str) -> str:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/" + member))).decode()


def test_wheels_hold_one_tool_each(wheels):
    htc_files, critkl_files = _names(wheels["htc"]), _names(wheels["critkl"])
    assert "htc/decoding/optimal.py" in htc_files and "htc/cli.py" in htc_files
    assert not any(n.startswith("critkl/") for n in htc_files)
    assert not any(n.startswith("htc/") for n in critkl_files)
    for model in ("tiny-n3", "tiny-n4"):  # package data still ships
        for f in ("config.json", "model.safetensors", "vocab.json", "tokenizer_config.json"):
            assert f"critkl/pretrained/{model}/{f}" in critkl_files
    assert "htc = htc.cli:app" in _metadata(wheels["htc"], "entry_points.txt")
    for f in ("LICENSE", "README.md"):  # HWV's licence and source travel with its files
        assert f"htc/bundled/hwv/{f}" in htc_files
    assert "critkl = critkl.cli:app" in _metadata(wheels["critkl"], "entry_points.txt")
    core = [line for line in _metadata(wheels["htc"], "METADATA").splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert core and not any(d in line for line in core for d in ("torch", "transformers"))


def test_htc_wheel_holds_hwv_as_released(wheels):
    """The wheel's HWV files, decompressed, have the released files' sha256 (the authors'
    repository, data/HWV), written here independently of htc.datasets."""
    import gzip
    import hashlib

    released = {  # hwv.taxonomy, hwv_val.json, hwv_test.json as released
        "hwv.taxonomy": "98b129a124a81e11e03a9b39444f94256ef7ad51137fd4c107bf4fc8cb917fc9",
        "hwv_val.json.gz": "167a478252dd6ea5073ef3467dfaeb091227ccae11be4d0dc76977d550922a5e",
        "hwv_test.json.gz": "c0df0e52febd4d4dc734467e93bc45e39d92641491934417d71b5202a10f94ca",
    }
    with zipfile.ZipFile(wheels["htc"]) as zf:
        for name, digest in released.items():
            data = zf.read(f"htc/bundled/hwv/{name}")
            if name.endswith(".gz"):
                data = gzip.decompress(data)
            assert hashlib.sha256(data).hexdigest() == digest, name


def test_versions_match_distribution_metadata():
    import critkl

    assert htc.__version__ == importlib.metadata.version("htc")
    assert critkl.__version__ == importlib.metadata.version("critkl")


def test_htc_and_critkl_import_neither_other():
    for name, other in (("htc", "critkl"), ("critkl", "htc")):
        for path in (REPO / "src" / name).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                mods = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                        [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not any(m.split(".")[0] == other for m in mods), f"{path} imports {other}"


@pytest.mark.slow
def test_htc_core_installs_and_runs_without_torch(wheels, tmp_path):
    """A fresh virtual environment, htc's wheel with its declared dependencies from the package
    index (pip's cache helps), then metrics, the exact decoder and the CLI with no torch."""
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", env], check=True)
    py = env / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "HTC_DATA_DIR")}
    res = _run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-compile",
                "--retries", "1", wheels["htc"]], env=clean)
    if res.returncode != 0:  # no index reachable, or a real packaging error?
        _skip_if_no_index(tmp_path)
        pytest.fail("pip install of the htc wheel failed:\n" + res.stdout + res.stderr)

    res = _run([py, "-c", CORE_SCRIPT], cwd=tmp_path, env=clean)
    assert res.returncode == 0 and "core ok" in res.stdout, res.stdout + res.stderr

    res = _run([env / "bin" / "htc", "datasets", "--verify"], cwd=tmp_path, env=clean)
    assert res.returncode == 0 and "hwv_test.json.gz" in res.stdout, res.stdout + res.stderr
    res = _run([env / "bin" / "htc", "--help"], cwd=tmp_path, env=clean)
    assert res.returncode == 0 and "evaluate" in res.stdout, res.stdout + res.stderr
    res = _run([env / "bin" / "htc", "train", "--data", tmp_path / "none"], cwd=tmp_path, env=clean)
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.strip() == ("error: htc train needs torch, which is not installed: "
                                  "pip install 'htc[train]'"), res.stderr
