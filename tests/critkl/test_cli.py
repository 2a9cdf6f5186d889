"""The typer CLI: the commands run end to end on tiny-n3 and bad input gives a clear error."""

import json

import pytest
from typer.testing import CliRunner

from critkl.cli import app
from critkl.model import save_model
from critkl.tokenizer import CharTokenizer

runner = CliRunner()


def test_eval_length_small(tmp_path):
    res = runner.invoke(app, ["eval-length", "tiny-n3", "--problems", "6", "--extra-lengths", "1",
                              "--temperature", "1.0", "--json", str(tmp_path / "cells.json")])
    assert res.exit_code == 0, res.output
    cells = json.loads((tmp_path / "cells.json").read_text())
    assert {(c["kind"], c["temperature"], c["digits"]) for c in cells} == {
        (k, t, d) for k in ("identical", "varying") for t in (0.0, 1.0) for d in (3, 4)
    }
    assert "identical (T4)" in res.output and "varying (T5)" in res.output
    # the cost is stated up front, and progress is reported in plain lines when the output is not a terminal
    first = res.output.splitlines()[0]
    assert first.startswith("eval-length: 8 cells") and "48 generations" in first and "about" in first
    assert "eval-length: 48/48 generations (100%)" in res.output


def test_certainty_small(tmp_path):
    res = runner.invoke(app, ["certainty", "tiny-n3", "--digits", "4", "--problems", "4", "--source", "ground_truth",
                              "--out-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    for f in ("delta_j.md", "delta_j.json", "heatmap.png", "heatmap.html"):
        assert (tmp_path / f).stat().st_size > 0
    rows = json.loads((tmp_path / "delta_j.json").read_text())
    assert [r["kind"] for r in rows] == ["shannon", "max_prob"]


def test_missing_files_give_a_clear_error(tmp_path, random_tiny):
    save_model(random_tiny, CharTokenizer(), tmp_path)
    (tmp_path / "model.safetensors").unlink()
    res = runner.invoke(app, ["eval-length", str(tmp_path), "--problems", "2"])
    assert res.exit_code == 2
    assert "is missing model.safetensors" in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize("n", ["0", "-2"])
def test_pretrain_rejects_n_below_one(tmp_path, n):
    res = runner.invoke(app, ["pretrain", "--max-digits", n, "--out-dir", str(tmp_path)])
    assert res.exit_code == 2
    assert "max_digits must be an int >= 1" in res.output


def test_certainty_on_digits_too_long_for_context():
    res = runner.invoke(app, ["certainty", "tiny-n3", "--digits", "30", "--problems", "2"])
    assert res.exit_code == 2
    assert "too long for this model" in res.output or "exceed the model's context" in res.output


def test_older_option_names_still_work_for_one_release(tmp_path):
    """eval-length's --size and certainty's --samples are now --problems (as in calibrate)."""
    res = runner.invoke(app, ["eval-length", "tiny-n3", "--size", "0"])
    assert res.exit_code == 2 and "--size is now --problems" in res.output and "--problems must be >= 1" in res.output
    res = runner.invoke(app, ["eval-length", "tiny-n3", "--size", "2", "--problems", "3"])
    assert res.exit_code == 2 and "--size is the older name of --problems" in res.output
    res = runner.invoke(app, ["certainty", "tiny-n3", "--digits", "4", "--samples", "0"])
    assert res.exit_code == 2 and "--samples is now --problems" in res.output
