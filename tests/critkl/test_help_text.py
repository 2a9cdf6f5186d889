"""Help is plain text that fits 80 columns: option names whole, brackets (extras) as written."""

import dataclasses
import re

from typer.testing import CliRunner

from critkl.cli import app
from critkl.cli_adapter import option_name
from critkl.rl.config import RLConfig


def _help(*args: str) -> str:
    res = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert res.exit_code == 0, res.output
    return res.output


def test_rl_help_shows_every_option_name_whole_at_80_columns():
    text = _help("rl")
    names = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
    for f in dataclasses.fields(RLConfig):
        if f.init and f.metadata.get("cli", True) is not False:
            assert option_name(f) in names, option_name(f)
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80


def test_extras_in_help_keep_their_brackets():
    assert "critkl[tensorboard]" in re.sub(r"\s+", "", _help("rl"))
    assert "critkl[tensorboard]" in re.sub(r"\s+", "", _help("pretrain"))
