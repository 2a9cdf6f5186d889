"""Every ``python -m`` entry point of both packages answers ``--help`` with its usage and exit status 0,
writing nothing, and refuses an unknown flag with status 2 (nothing written either)."""

import subprocess
import sys

import pytest

ENTRY_POINTS = ["critkl.cli", "critkl.demo", "critkl.trl.example", "htc.cli", "htc.demo"]


def _run(tmp_path, module: str, flag: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, flag], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "COLUMNS": "80", "HOME": str(tmp_path)})


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_help_prints_usage_and_writes_nothing(tmp_path, module):
    res = _run(tmp_path, module, "--help")
    assert res.returncode == 0, res.stderr
    assert "usage" in res.stdout.lower()
    assert [p.name for p in tmp_path.iterdir()] == []


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_an_unknown_flag_exits_2(tmp_path, module):
    res = _run(tmp_path, module, "--no-such-flag")
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "--no-such-flag" in res.stdout + res.stderr
    assert [p.name for p in tmp_path.iterdir()] == []
