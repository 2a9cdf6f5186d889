"""The generated ``critkl pretrain`` / ``critkl rl`` commands: fields → options, precedence, old names,
``--resume``, and a command line that starts without torch. No training runs here (fast)."""

import json
import subprocess
import sys
from dataclasses import field, fields, make_dataclass

import pytest
import typer
from typer.testing import CliRunner

from critkl.cli import app
from critkl.cli_adapter import config_command, option_name
from critkl.pretrain import PretrainConfig
from critkl.rl.config import RLConfig

runner = CliRunner()


def _capture(cls):
    """A one-command app around ``cls`` whose run only records the config it receives."""
    seen = []

    def run(config, dry: bool = typer.Option(False, help="A run option.")) -> None:
        """Record the config."""
        seen.append((config, dry))

    one = typer.Typer()
    one.command()(config_command(cls, run))
    return one, seen


def _options(command_name: str) -> set[str]:
    command = typer.main.get_command(app).commands[command_name]
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)}


def test_a_new_config_field_reaches_the_generated_help_and_the_config():
    knob = field(default=7, metadata={"help": "A knob added by this test."})
    Extended = make_dataclass("ExtendedRLConfig", [("new_knob", int, knob)], bases=(RLConfig,))
    one, seen = _capture(Extended)
    res = runner.invoke(one, ["--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "--new-knob" in res.output and "A knob added by this test." in res.output
    assert "--policy-temperature" in res.output and "--dry" in res.output
    res = runner.invoke(one, ["--new-knob", "9", "--lr", "0.5", "--dry"])
    assert res.exit_code == 0, res.output
    config, dry = seen[-1]
    assert isinstance(config, Extended) and config.new_knob == 9 and config.lr == 0.5 and dry
    assert config.resolved().new_knob == 9  # the variant's copy keeps the subclass and its field
    res = runner.invoke(one, ["--kl", "sometimes"])  # the base class's validation still runs
    assert res.exit_code == 2 and "kl must be one of" in res.output


@pytest.mark.parametrize("command,cls", [("rl", RLConfig), ("pretrain", PretrainConfig)])
def test_every_field_is_an_option_with_help(command, cls):
    options = _options(command)
    for f in fields(cls):
        if f.metadata.get("cli", True) is False:
            continue
        assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"
        assert option_name(f) in options, f.name
    assert {"--config", "--set", "--resume", "--no-resume", "--until"} <= options


def test_existing_option_names_keep_working():
    # every spelling used in README.md, docs/critkl*.md and the tests, including the older names
    assert {"--out-dir", "--init-from", "-n", "--max-digits", "--no-position-embeddings", "--position-jitter",
            "--eval-heldout", "--export", "--warmup-steps", "--min-lr-ratio", "--weight-decay",
            "--checkpoint-every", "--batch-size", "--dropout", "--threads", "--device"} <= _options("pretrain")
    assert {"--out-dir", "-d", "--train-digits", "--pretrained-digits", "--normalize-advantages",
            "--adam-eps", "--certainty-temperature", "--kl-placement", "--kl-estimator", "--ppo-epochs",
            "--ppo-clip", "--reward-mode", "--decoding", "--trainable", "--variant", "--config",
            "--episodes-per-collect", "--minibatch-episodes", "--test-episodes", "--in-dist-episodes",
            "--eval-every", "--tensorboard"} <= _options("rl")
    help_text = runner.invoke(app, ["pretrain", "--help"], env={"COLUMNS": "200"}).output
    assert "--base-model" in help_text and "--init-from" not in help_text and "--out-dir" not in help_text


def test_precedence_file_then_set_and_options(tmp_path):
    one, seen = _capture(RLConfig)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"lr": 0.1, "seed": 3, "episodes": 8}))
    res = runner.invoke(one, ["--config", str(cfg), "--set", "seed=4", "--episodes", "9", "--out-dir", "x"])
    assert res.exit_code == 0, res.output
    config, _ = seen[-1]
    assert (config.lr, config.seed, config.episodes, config.out_dir) == (0.1, 4, 9, "x")
    assert config.alpha == RLConfig().alpha  # a field set nowhere keeps its default
    res = runner.invoke(one, ["--set", "seed=4", "--seed", "5"])
    assert res.exit_code == 2 and "seed is given twice" in res.output
    res = runner.invoke(one, ["--out", "a", "--out-dir", "b"])
    assert res.exit_code == 2 and "--out-dir is an older name of --out" in res.output
    res = runner.invoke(one, ["--set", "lr=fast"])
    assert res.exit_code == 2 and "lr must be a number, got 'fast'" in res.output
    res = runner.invoke(one, ["--set", "learning_rate=1"])
    assert res.exit_code == 2 and "'learning_rate' is not a field of RLConfig" in res.output
    res = runner.invoke(one, ["--config", str(tmp_path / "missing.json")])
    assert res.exit_code == 2 and "no such file" in res.output


def test_pretrain_config_file_and_fields_without_option(tmp_path):
    one, seen = _capture(PretrainConfig)
    res = runner.invoke(one, ["--set", 'extra={"note": "x"}', "--betas", "0.8", "0.9", "-n", "2",
                              "--base-model", "tiny-n3"])
    assert res.exit_code == 0, res.output
    config, _ = seen[-1]
    assert config.extra == {"note": "x"} and tuple(config.betas) == (0.8, 0.9) and config.max_digits == 2
    assert config.init_from == "tiny-n3"
    res = runner.invoke(one, ["--size", "huge"])
    assert res.exit_code == 2 and "size must be one of" in res.output


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="episodes must be an int, got 2.5"):
        RLConfig(episodes=2.5)
    with pytest.raises(ValueError, match="variant must be one of"):
        RLConfig(variant="mine")
    with pytest.raises(ValueError, match="dropout must be in"):
        PretrainConfig(dropout=1.0)
    assert PretrainConfig(betas=[0.9, 0.95]).betas == (0.9, 0.95)  # a JSON list fits tuple[float, float]


def test_sizes_agree_with_the_model():
    from critkl.model import SIZES

    for size in SIZES:
        PretrainConfig(size=size)


@pytest.mark.parametrize("command,marker", [("pretrain", "checkpoint"), ("rl", "checkpoint.pt")])
def test_an_existing_checkpoint_needs_resume(tmp_path, command, marker):
    (tmp_path / "checkpoint").mkdir() if marker == "checkpoint" else (tmp_path / marker).write_bytes(b"")
    res = runner.invoke(app, [command, "--out", str(tmp_path), "--steps" if command == "pretrain" else "--episodes",
                              "1" if command == "pretrain" else "32"])
    assert res.exit_code == 2 and "add --resume to continue it" in res.output


def test_model_as_argument_or_option():
    res = runner.invoke(app, ["eval-length"])
    assert res.exit_code == 2 and "missing MODEL" in res.output
    res = runner.invoke(app, ["calibrate", "tiny-n3", "--model", "tiny-n4"])
    assert res.exit_code == 2 and "give the model once" in res.output


def test_the_command_line_starts_without_torch():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "import critkl.cli\n"
        "heavy = ('torch', 'transformers', 'trl', 'numpy')\n"
        "assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]\n"
        "for args in (['--help'], ['rl', '--help'], ['pretrain', '--help'], ['reproduce', '--help']):\n"
        "    assert CliRunner().invoke(critkl.cli.app, args).exit_code == 0, args\n"
        "assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_lazy_package_exports():
    import critkl
    import critkl.rl

    for name in critkl.__all__:
        assert getattr(critkl, name) is not None, name
    for name in critkl.rl.__all__:
        assert getattr(critkl.rl, name) is not None, name
    assert callable(critkl.pretrain) and critkl.pretrain.__module__ == "critkl.pretrain"
    with pytest.raises(AttributeError):
        critkl.no_such_name  # noqa: B018
