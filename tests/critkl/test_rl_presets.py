"""RL presets: the defaults are the recipe that learns on the tiny models, ``paper`` is the paper's Table 3,
a preset sits under --config, --set and the options, and the studies do not change meaning with it."""

import dataclasses
import json
from dataclasses import asdict

import pytest
import typer
from typer.testing import CliRunner

from critkl.cli_adapter import config_command
from critkl.configbase import Config, config_diff, field_defaults, setting
from critkl.rl.config import PRESETS, RLConfig
from critkl.study import mechanism, regime_pilot
from critkl.study.experiments import SCALE_SETTINGS
from critkl.study.runner import run_config

# the paper's Table 3 and the official rl_train.py, as critkl rl ran them before the recipe was the default
PAPER_TABLE_3 = {"alpha": 5.0, "beta": 150.0, "policy_temperature": 2.0, "lr": 1e-6, "adam_eps": 1e-8,
                 "advantage": "gae", "group_size": 1, "episodes": 400, "episodes_per_collect": 50,
                 "minibatch_episodes": 10, "test_episodes": 100, "in_dist_episodes": 20, "eval_every": 1,
                 "eval_greedy": True, "algo": "a2c", "kl": "prioritized", "value_coef": 0.1, "gamma": 1.0,
                 "gae_lambda": 0.95, "max_grad_norm": 0.0, "kl_estimator": "k2", "variant": "paper"}


def test_the_paper_preset_is_table_3():
    c = RLConfig(**PRESETS["paper"]).resolved()
    assert {k: getattr(c, k) for k in PAPER_TABLE_3} == PAPER_TABLE_3


def test_the_defaults_are_the_recipe():
    c = RLConfig().resolved()
    assert (c.advantage, c.group_size, c.lr, c.adam_eps, c.policy_temperature, c.kl, c.alpha, c.beta) == (
        "group", 4, 3e-5, 1e-3, 1.0, "prioritized", 0.1, 150.0)
    assert c.model == "tiny-n4" and c.episodes_per_collect % c.group_size == 0
    assert PRESETS["recipe"] == {}


def test_the_group_size_follows_the_advantage_unless_given():
    assert RLConfig(advantage="gae").resolved().group_size == 1
    assert RLConfig(group_size=8).resolved().group_size == 8
    with pytest.raises(ValueError, match="episodes_per_collect must be a multiple of the group size"):
        RLConfig(episodes_per_collect=30)
    with pytest.raises(ValueError, match="group_size"):
        RLConfig(group_size=1)  # a group baseline needs other episodes of the problem


def test_a_field_missing_from_an_old_config_means_what_it_did_then():
    old = {k: v for k, v in asdict(RLConfig(**PRESETS["paper"]).resolved()).items()
           if k not in RLConfig.ABSENT_MEANS}
    defaults = field_defaults(RLConfig)
    assert config_diff(old, asdict(RLConfig(**PRESETS["paper"]).resolved()), defaults=defaults) == []
    changed = asdict(RLConfig(**{**PRESETS["paper"], "advantage": "group", "group_size": 2}).resolved())
    assert config_diff(old, changed, defaults=defaults) == ["advantage", "group_size"]


@pytest.mark.parametrize("study", [mechanism, regime_pilot])
def test_the_regime_studies_pin_every_preset_setting(study, tmp_path):
    """Their runs are the same whichever preset lies under them, so a finished run reads back under both."""
    arms = study.arms() if study is regime_pilot else study.arms(mechanism.ALPHA, 0.05)
    for preset in ("recipe", "paper"):
        base = {**PRESETS[preset], **SCALE_SETTINGS["cpu"], **study.SETTINGS}
        got = [asdict(run_config(base, arm, 0, tmp_path, 1).resolved()) for arm in arms]
        if preset == "recipe":
            first = got
    assert got == first


def test_the_cpu_scale_under_the_paper_preset_keeps_the_learned_critic():
    c = RLConfig(**{**PRESETS["paper"], **SCALE_SETTINGS["cpu"]}).resolved()
    assert (c.advantage, c.group_size, c.adam_eps, c.alpha, c.lr, c.policy_temperature) == (
        "gae", 1, 1e-8, 5.0, 3e-5, 1.0)


@dataclasses.dataclass
class Demo(Config):
    lr: float = setting(1e-3, "Learning rate.")
    steps: int = setting(10, "Steps.")
    width: int = setting(4, "Width.")


def _app(seen: list):
    app = typer.Typer()
    app.command("go")(config_command(Demo, lambda config: seen.append(config),
                                     presets={"fast": {}, "slow": {"lr": 1e-5, "steps": 99, "width": 8}}))
    app.command("other")(lambda: None)
    return app


def test_a_preset_sits_under_the_config_file_set_and_options(tmp_path):
    seen: list = []
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"steps": 5}))
    res = CliRunner().invoke(_app(seen), ["go", "--preset", "slow", "--config", str(cfg), "--set", "width=6",
                                          "--lr", "0.5"])
    assert res.exit_code == 0, res.output
    assert seen[-1] == Demo(lr=0.5, steps=5, width=6)
    res = CliRunner().invoke(_app(seen), ["go", "--preset", "slow"])
    assert res.exit_code == 0 and seen[-1] == Demo(lr=1e-5, steps=99, width=8)
    res = CliRunner().invoke(_app(seen), ["go"])
    assert res.exit_code == 0 and seen[-1] == Demo()


def test_an_unknown_preset_is_named():
    res = CliRunner().invoke(_app([]), ["go", "--preset", "medium"])
    assert res.exit_code == 2 and "--preset must be one of fast, slow, got 'medium'" in res.output


def test_critkl_rl_help_shows_the_presets():
    from critkl.cli import app

    res = CliRunner().invoke(app, ["rl", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "--preset" in res.output and "recipe|paper" in res.output


def test_reproduce_records_and_checks_its_preset(tmp_path):
    from critkl.study import reproduce

    with pytest.raises(ValueError, match="preset must be one of recipe, paper"):
        reproduce("certainty", preset="fast", out=tmp_path)
