"""The README's htc example runs as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_blocks_run(hwv_path, monkeypatch):
    monkeypatch.setenv("HTC_DATA_DIR", str(hwv_path.parent))
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    htc_blocks = [b for b in blocks if "from htc" in b]
    if not htc_blocks:
        pytest.fail("README has no htc example")
    for block in htc_blocks:
        exec(compile(block, str(README), "exec"), {})
