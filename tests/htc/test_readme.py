"""The README's htc examples run as written: its Python blocks, and its shell commands."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"

# How the long commands are shrunk for the test: options appended to the command (the last value
# of an option wins), so that everything else runs as written. HWV comes from the copy that ships
# with htc ($HTC_DATA_DIR unset), as for a user.
SHRINK = {
    "htc train": "--epochs 1 --batch-size 128 --tfidf-svd 64",
    "htc reproduce": "--encoder tfidf --seeds 1 --epochs 2 --jobs 1",
}
# Commands that read HWV through $HTC_DATA_DIR set to a 6-label HWV-format folder: the exact
# multi-path decoder that htc reproduce runs takes minutes on HWV's labels when a model trained for
# a few epochs gives diffuse marginals (measured: over 4 min for the first run, bce, at 1 epoch).
TINY_DATA = ("htc reproduce",)


def test_readme_python_blocks_run(monkeypatch):
    monkeypatch.delenv("HTC_DATA_DIR", raising=False)
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


def shrunk(command: str) -> str:
    """``command`` with its :data:`SHRINK` options (before a comment)."""
    code, _, _ = command.partition(" # ")
    extra = next((v for k, v in SHRINK.items() if code.startswith(k + " ")), "")
    return f"{code.rstrip()} {extra}".rstrip()


@pytest.mark.slow
def test_readme_shell_commands_run(tmp_path):
    """README's htc shell block as one script, in order, in a fresh folder (about 1 min)."""
    from tests.htc.test_reproduce import _folder as tiny_hwv_folder

    commands = shell_commands(README.read_text())
    assert [c.split()[1] for c in commands if c.startswith("htc ")] == \
        ["datasets", "stats", "train", "predict", "evaluate", "evaluate", "reproduce"]
    (tmp_path / "tiny").mkdir()
    tiny = str(tiny_hwv_folder(tmp_path / "tiny"))  # holds tiny/hwv
    script = ["set -euxo pipefail"] + [
        (f"HTC_DATA_DIR={tiny} " if c.startswith(TINY_DATA) else "") + shrunk(c) for c in commands]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {k: v for k, v in os.environ.items() if k != "HTC_DATA_DIR"} | {"PATH": path}
    work = tmp_path / "work"
    work.mkdir()
    res = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{res.stdout}{res.stderr}"
    assert "2003" in res.stdout.replace(",", "")  # htc stats read the bundled test file
    for made in ("runs/la/model/config.json", "runs/la/pred/pred_pred.jsonl",
                 "runs/htc-reproduce/report.md"):
        assert (work / made).is_file(), made


def test_shrink_keeps_the_command_and_drops_the_comment():
    assert shrunk("htc train --data hwv --out runs/la   # about 1 min") == \
        "htc train --data hwv --out runs/la --epochs 1 --batch-size 128 --tfidf-svd 64"
    assert shrunk("htc stats -t $HWV/hwv.taxonomy x") == "htc stats -t $HWV/hwv.taxonomy x"
