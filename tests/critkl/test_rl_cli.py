"""``critkl rl`` end to end on a tiny random model, and its argument errors."""

import json

from typer.testing import CliRunner

from critkl.cli import app
from critkl.model import build_model, save_model
from critkl.tokenizer import CharTokenizer


def test_rl_command_runs_and_logs(tmp_path):
    save_model(build_model("tiny", 1, seed=0), CharTokenizer(), tmp_path / "m")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"test_episodes": 2, "in_dist_episodes": 1, "eval_greedy": False}))
    res = CliRunner().invoke(app, ["rl", "--model", str(tmp_path / "m"), "--train-digits", "2", "--kl", "standard",
                                   "--alpha", "1", "--algo", "ppo", "--advantage", "gae", "--episodes", "2", "--episodes-per-collect", "2",
                                   "--seed", "1", "--lr", "1e-4", "--config", str(cfg),
                                   "--out-dir", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    recs = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in recs] == [0, 1]
    # short lines for a person (what runs, then one per evaluation); the JSON records stay in log.jsonl
    lines = res.output.splitlines()
    assert lines[0].startswith("RL from ") and "2 episodes in 1 collects of 2" in lines[0]
    assert not any(line.startswith("{") for line in lines)
    evals = [line for line in lines if "held-out acc" in line]
    assert len(evals) == 2 and evals[0].startswith("start model") and evals[1].startswith("episode 2/2 · reward ")
    assert all("elapsed" in line and len(line) < 200 for line in evals)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["algo"] == "ppo" and saved["test_episodes"] == 2 and saved["certainty"] == "shannon"  # the default paper variant


def test_rl_command_errors_name_the_option(tmp_path):
    res = CliRunner().invoke(app, ["rl", "--kl", "sometimes"])
    assert res.exit_code == 2 and "kl must be one of" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"learning_rate": 1}))
    res = CliRunner().invoke(app, ["rl", "--config", str(bad)])
    assert res.exit_code == 2 and "learning_rate" in res.output


def test_rl_command_rejects_a_bad_trainable_pattern():
    res = CliRunner().invoke(app, ["rl", "--trainable", "ln_("])
    assert res.exit_code == 2 and "trainable must be a regular expression" in res.output
