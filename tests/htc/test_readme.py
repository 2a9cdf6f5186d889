"""The README's htc examples run as written: its Python blocks, and its shell commands."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"

# The README's data path, replaced by the fixture's HWV folder (the same path when HWV sits in
# ../shared/data), and how the long commands are shrunk for the test: options appended to the
# command (the last value of an option wins), so that everything else runs as written.
DATA = "../shared/data"
SHRINK = {
    "htc train": "--epochs 1 --batch-size 128 --tfidf-svd 64",
    "htc reproduce": "--encoder tfidf --seeds 1 --epochs 2 --jobs 1",
}
# Commands that read HWV through $HTC_DATA_DIR set to a 6-label HWV-format folder: the exact
# multi-path decoder that htc reproduce runs takes minutes on HWV's labels when a model trained for
# a few epochs gives diffuse marginals (measured: over 4 min for the first run, bce, at 1 epoch).
TINY_DATA = ("htc reproduce",)


def test_readme_python_blocks_run(hwv_path, monkeypatch):
    monkeypatch.setenv("HTC_DATA_DIR", str(hwv_path.parent))
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    htc_blocks = [b for b in blocks if "from htc" in b]
    if not htc_blocks:
        pytest.fail("README has no htc example")
    for block in htc_blocks:
        exec(compile(block, str(README), "exec"), {})


def shell_commands(text: str) -> list[str]:
    """The commands of the ```bash blocks that start with ``htc `` (continued lines joined)."""
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S) if b.startswith("htc ")]
    return [line.strip() for b in blocks for line in b.replace("\\\n", " ").splitlines()
            if line.strip()]


def shrunk(command: str, data: str) -> str:
    """``command`` with the data path replaced and its :data:`SHRINK` options (before a comment)."""
    code, _, _ = command.replace(DATA, data).partition(" # ")
    extra = next((v for k, v in SHRINK.items() if code.startswith(k + " ")), "")
    return f"{code.rstrip()} {extra}".rstrip()


@pytest.mark.slow
def test_readme_shell_commands_run(hwv_path, tmp_path):
    """Every command of README's htc shell block, in order, in a fresh folder (about 1 min)."""
    from tests.htc.test_reproduce import _folder as tiny_hwv_folder

    data = str(hwv_path.parent)
    commands = shell_commands(README.read_text())
    assert [c.split()[1] for c in commands if c.startswith("htc ")] == \
        ["stats", "train", "predict", "evaluate", "evaluate", "reproduce"]
    (tmp_path / "tiny").mkdir()
    tiny = str(tiny_hwv_folder(tmp_path / "tiny"))  # holds tiny/hwv, like ../shared/data
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    work = tmp_path / "work"
    work.mkdir()
    for command in commands:
        env = {**os.environ, "PATH": path,
               "HTC_DATA_DIR": tiny if command.startswith(TINY_DATA) else data}
        res = subprocess.run(["bash", "-c", shrunk(command, data)], cwd=work, env=env,
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, f"{command}\n{res.stdout}{res.stderr}"
    for made in ("runs/la/model/config.json", "runs/la/pred/pred_pred.jsonl",
                 "runs/htc-reproduce/report.md"):
        assert (work / made).is_file(), made


def test_shrink_keeps_the_command_and_drops_the_comment():
    assert shrunk("htc train --data ../shared/data/hwv --out runs/la   # about 1 min", "/d") == \
        "htc train --data /d/hwv --out runs/la --epochs 1 --batch-size 128 --tfidf-svd 64"
    assert shrunk("htc stats -t ../shared/data/hwv/hwv.taxonomy x", "/d") == \
        "htc stats -t /d/hwv/hwv.taxonomy x"
