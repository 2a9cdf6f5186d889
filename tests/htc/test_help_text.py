"""htc's help is plain text: brackets (extras) as written."""

import re

from typer.testing import CliRunner

from htc.cli import app


def test_help_keeps_the_extras_brackets():
    res = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert res.exit_code == 0, res.output
    assert "htc[tensorboard]" in re.sub(r"\s+", "", res.output)
