"""``htc train``'s options generated from ``TrainConfig`` (htc.cli_config): a new field reaches
``--help`` and the config, one-line errors that name the option, precedence over ``--config``, and
the config's own validation. No training runs here."""

import dataclasses
import json
import math
import subprocess
import sys
from dataclasses import field, make_dataclass

import pytest
import typer
from typer.testing import CliRunner

from htc.cli import app, friendly_errors
from htc.cli_config import build_config, config_options, option_name
from htc.train_config import TrainConfig

runner = CliRunner()


def _capture(cls):
    """A one-command app like ``htc train`` whose body only records the config it builds."""
    seen = []
    one = typer.Typer()

    @one.command()
    @friendly_errors
    @config_options(cls)
    def run(options: dict, config: str = typer.Option(None, help="JSON file of fields")) -> None:
        seen.append(build_config(cls, options, cls.load(config).to_dict() if config else {}))

    return one, seen


def _train_options() -> set[str]:
    command = typer.main.get_command(app).commands["train"]
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)}


def test_a_new_field_reaches_the_help_and_the_config():
    knob = field(default=7, metadata={"help": "A knob added by this test."})
    Extended = make_dataclass("ExtendedTrainConfig", [("new_knob", int, knob)], bases=(TrainConfig,))
    one, seen = _capture(Extended)
    res = runner.invoke(one, ["--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "--new-knob" in res.output and "A knob added by this test." in res.output
    assert "--lr-head" in res.output and "--no-bf16" in res.output
    res = runner.invoke(one, ["--new-knob", "9", "--epochs", "3", "--no-bf16"])
    assert res.exit_code == 0, res.output
    assert isinstance(seen[-1], Extended)
    assert (seen[-1].new_knob, seen[-1].epochs, seen[-1].bf16) == (9, 3, False)
    for args, message in ((["--new-knob", "many"], "error: --new-knob must be an integer, got 'many'"),
                          (["--epochs", "0"], "error: --epochs must be >= 1, got 0")):
        res = runner.invoke(one, args)
        assert res.exit_code == 2 and res.output.strip() == message, res.output


@pytest.mark.parametrize("args,message", [
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--batch-size", "two"], "--batch-size must be an integer, got 'two'"),
    (["--lr-head", "nan"], "--lr-head must be a finite number, got nan"),
    (["--threshold", "1.5"], "--threshold must be in [0, 1], got 1.5"),
    (["--loss", "hinge"], "--loss must be one of 'bce', "),
])
def test_htc_train_bad_value_is_one_line_naming_the_option(tmp_path, args, message):
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--data", str(tmp_path), *args, "--out", str(out)])
    assert res.exit_code == 2 and res.output.startswith(f"error: {message}"), res.output
    assert len(res.output.strip().splitlines()) == 1 and not out.exists()


def test_every_field_is_an_option_with_help_and_old_names_work():
    options = _train_options()
    for f in dataclasses.fields(TrainConfig):
        assert f.metadata.get("help"), f"TrainConfig.{f.name} has no help text"
        assert option_name(f) in options, f.name
    # every spelling in README.md, docs/htc*.md, the Makefile, htc.demo and the tests
    assert {"--data", "--train", "--dev", "--test", "--taxonomy", "-t", "--out", "--resume",
            "--config", "--tune", "--loss", "--encoder", "--model", "--epochs", "--batch-size",
            "--lr-head", "--lr-encoder", "--decoder", "--threshold", "--seed",
            "--multi-path"} <= options
    assert {"--bf16", "--no-bf16"} <= options


def test_options_override_the_config_file_and_defaults_do_not(tmp_path):
    one, seen = _capture(TrainConfig)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"loss": "bce", "epochs": 3, "bf16": False}))
    res = runner.invoke(one, ["--config", str(cfg), "--epochs", "4"])
    assert res.exit_code == 0, res.output
    assert (seen[-1].loss, seen[-1].epochs, seen[-1].bf16) == ("bce", 4, False)
    cfg.write_text(json.dumps({"epochs": 0}))
    res = runner.invoke(one, ["--config", str(cfg)])
    assert res.exit_code == 2 and res.output.strip() == f"error: {cfg}: epochs must be >= 1, got 0"
    assert build_config(TrainConfig, {}).to_dict() == TrainConfig().to_dict()


# one out-of-range value per numeric field: a new numeric field must add its own (and its check)
OUT_OF_RANGE = {"max_length": 0, "epochs": 0, "batch_size": 0, "lr_head": 0.0, "lr_encoder": -1e-5,
                "weight_decay": -0.1, "warmup": 1.0, "grad_clip": -1.0, "hidden": 0, "dropout": 1.0,
                "tau": -0.5, "champ_beta": -1.0, "threshold": 1.01, "decoder_beta": 0.0,
                "patience": 0, "seed": -1, "checkpoint_every": -1, "tfidf_max_features": 0,
                "tfidf_svd": -1}


def test_every_numeric_field_is_range_checked_and_finite():
    numeric = {f.name: f.type for f in dataclasses.fields(TrainConfig) if f.type in ("int", "float")}
    assert set(numeric) == set(OUT_OF_RANGE)
    for name, bad in OUT_OF_RANGE.items():
        with pytest.raises(ValueError, match=f"^{name} must be"):
            TrainConfig(**{name: bad})
        wrong = "3" if numeric[name] == "int" else "0.5"
        with pytest.raises(ValueError, match=f"^{name} must be an? (integer|number)"):
            TrainConfig(**{name: wrong})
        if numeric[name] == "float":
            for x in (math.nan, math.inf, -math.inf):
                with pytest.raises(ValueError, match=f"^{name} must be a finite number"):
                    TrainConfig(**{name: x})
    with pytest.raises(ValueError, match="^epochs must be an integer, got 2.5"):
        TrainConfig(epochs=2.5)
    with pytest.raises(ValueError, match="^bf16 must be true or false"):
        TrainConfig(bf16=1)
    assert TrainConfig(lr_head=1, seed=2**32 - 1).lr_head == 1  # an int is a number


def test_train_help_does_not_import_torch():
    code = ("import sys\nfrom htc.cli import app\n"
            "try:\n    app(['train', '--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
