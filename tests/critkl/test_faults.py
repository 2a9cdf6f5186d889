"""Refused inputs and stopped runs: a resume with another config, non-finite or out-of-range numbers,
damaged weight and checkpoint files, a training loss that turns NaN. Each ends with one clear error
naming the field, option or file, and leaves what was written before as it was."""

import json

import pytest
import torch
from typer.testing import CliRunner

from critkl.cli import app
from critkl.finite import NonFiniteError
from critkl.model import build_model, load_model, save_model
from critkl.pretrain import PretrainConfig, pretrain
from critkl.rl import RLConfig, Trainer
from critkl.tokenizer import CharTokenizer

pytestmark = pytest.mark.filterwarnings("ignore::critkl.calibration.WeightCollapseWarning")
runner = CliRunner()


def _config(out, **kw):
    base = dict(max_digits=2, size="tiny", out_dir=str(out), steps=4, batch_size=4, warmup_steps=2,
                log_every=1, eval_every=100, eval_size=2, checkpoint_every=100, seed=7, threads=1)
    return PretrainConfig(**(base | kw))


def _files(folder):
    """Every file under ``folder`` with its bytes: what a refused command must leave unchanged."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_error(res, *needles):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    lines = [line for line in res.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, res.output
    for needle in needles:
        assert needle in errors[0], (needle, res.output)


# --------------------------------------------------------------------------- resume with another config


def test_pretrain_resume_with_another_config_lists_the_fields_and_changes_nothing(tmp_path):
    out = tmp_path / "run"
    pretrain(_config(out), progress=False, until=2)
    before = _files(out)
    with pytest.raises(ValueError, match="different config") as err:
        pretrain(_config(out, lr=1e-4, max_digits=3), progress=False)
    assert "lr 0.003 (checkpoint) vs 0.0001 (now)" in str(err.value) and "max_digits 2" in str(err.value)
    assert "seed" not in str(err.value)
    assert _files(out) == before  # config.json, log.jsonl and the checkpoint as they were; no final/
    # where it runs and what it logs may change: the run continues
    final = pretrain(_config(out, threads=None, eval_every=3, log_every=2, device="cpu"), progress=False)
    assert json.loads((final / "training_config.json").read_text())["eval_every"] == 3


def test_cli_pretrain_resume_with_another_config_is_refused(tmp_path):
    out = tmp_path / "run"
    args = ["pretrain", "-n", "2", "--size", "tiny", "--steps", "3", "--batch-size", "4", "--eval-every", "100",
            "--eval-size", "2", "--threads", "1", "--out", str(out)]
    res = runner.invoke(app, [*args, "--until", "1"])
    assert res.exit_code == 0, res.output
    before = _files(out)
    res = runner.invoke(app, ["pretrain", "-n", "3", "--size", "small", "--lr", "0.01", "--out", str(out),
                              "--resume"])
    _one_line_error(res, "different config", "max_digits", "size", "lr", "--config OUT/config.json")
    assert _files(out) == before
    res = runner.invoke(app, ["pretrain", "--config", str(out / "config.json"), "--resume"])
    assert res.exit_code == 0, res.output
    assert (out / "final" / "model.safetensors").is_file()


def test_rl_resume_with_another_config_changes_nothing(tmp_path):
    def trainer(**kw):
        cfg = dict(out_dir=str(tmp_path / "rl"), train_digits=2, advantage="gae", episodes=4, episodes_per_collect=2,
                   minibatch_episodes=1, test_episodes=2, in_dist_episodes=1, eval_greedy=False, lr=1e-3, seed=3,
                   beta=2.0, threads=1)
        return Trainer(RLConfig(**(cfg | kw)), lm=build_model("tiny", 1, seed=0), tokenizer=CharTokenizer())

    trainer().run(resume=False, until=1)
    before = _files(tmp_path / "rl")
    with pytest.raises(ValueError, match=r"different config: alpha 0\.1 \(checkpoint\) vs 1\.0 \(now\)"):
        trainer(alpha=1.0).run(resume=True)
    assert _files(tmp_path / "rl") == before
    t = trainer(threads=0)  # where it runs may change
    t.run(resume=True)
    assert t.iteration == 2


# --------------------------------------------------------------------------- numbers refused where read


@pytest.mark.parametrize("args,needle", [
    (["--lr", "inf"], "lr must be a finite number, got inf"),
    (["--lr", "nan"], "lr must be a finite number, got nan"),
    (["--set", "lr=NaN"], "lr must be a finite number, got nan"),
    (["--set", "lr=nan"], "lr must be a number, got 'nan'"),
    (["--betas", "0.9", "inf"], "betas must be a finite number"),
    (["--betas", "0.9", "1.5"], "betas must both be in [0, 1)"),
    (["--device", "gpu"], "device must be auto, cpu, cuda"),
])
def test_pretrain_refuses_non_finite_and_out_of_range_numbers(tmp_path, args, needle):
    res = runner.invoke(app, ["pretrain", "--out", str(tmp_path / "run"), *args])
    _one_line_error(res, needle)
    assert not (tmp_path / "run").exists()  # nothing written


@pytest.mark.parametrize("content,needle", [
    ('{"lr": "3e-4"}', "lr must be a number, got '3e-4'"),
    ('{"lr": NaN}', "lr must be a finite number, got nan"),
    ('{"warmup_steps": 1e400}', "warmup_steps must be an int"),
    ('{"lr": Infinity}', "lr must be a finite number, got inf"),
    ("\xff\xfe", "not UTF-8 text"),
])
def test_config_files_with_bad_numbers_are_refused(tmp_path, content, needle):
    cfg = tmp_path / "c.json"
    cfg.write_bytes(content.encode("latin-1"))
    for command in ("pretrain", "rl"):
        if command == "rl" and "warmup" in content:
            continue
        res = runner.invoke(app, [command, "--config", str(cfg), "--out", str(tmp_path / command)])
        _one_line_error(res, needle)
        assert not (tmp_path / command).exists()


@pytest.mark.parametrize("args,needle", [
    (["--weight-slope", "-1"], "weight_slope must be >= 0"),
    (["--weight-intercept", "-0.5"], "weight_intercept must be >= 0"),
    (["--certainty-temperature", "nan"], "certainty_temperature must be a finite number, got nan"),
    (["--policy-temperature", "inf"], "policy_temperature must be a finite number, got inf"),
    (["--set", "alpha=-Infinity"], "alpha must be a finite number"),
])
def test_rl_refuses_negative_weights_and_non_finite_numbers(tmp_path, args, needle):
    res = runner.invoke(app, ["rl", "--out", str(tmp_path / "rl"), *args])
    _one_line_error(res, needle)
    assert not (tmp_path / "rl").exists()
    with pytest.raises(ValueError):
        RLConfig(weight_slope=-1.0)


@pytest.mark.parametrize("args,needle", [
    (["--extra-lengths", "-1"], "--extra-lengths must be >= 1"),
    (["--extra-lengths", "0"], "--extra-lengths must be >= 1"),
    (["--temperature", "nan"], "--temperature must be a finite number > 0"),
    (["--temperature", "0"], "--temperature must be a finite number > 0"),
    (["--problems", "0"], "--problems must be >= 1"),
    (["--batch-size", "-3"], "--batch-size must be >= 1"),
    (["--seed", "-1"], "--seed must be in [0, 2**32)"),
])
def test_eval_length_refuses_out_of_range_options(tmp_path, args, needle):
    res = runner.invoke(app, ["eval-length", "tiny-n3", "--json", str(tmp_path / "cells.json"), *args])
    _one_line_error(res, needle)
    assert not (tmp_path / "cells.json").exists()


@pytest.mark.parametrize("args,needle", [
    (["--temperature", "nan"], "--temperature must be a finite number > 0"),
    (["--temperature", "-1"], "--temperature must be a finite number > 0"),
    (["--problems", "0"], "--problems must be >= 1"),
    (["--digits", "0"], "--digits must be >= 1"),
    (["--source", "mine"], "--source must be generated or ground_truth"),
])
def test_certainty_refuses_out_of_range_options(tmp_path, args, needle):
    base = ["certainty", "tiny-n3", "--out", str(tmp_path / "c")]
    res = runner.invoke(app, [*base, *(["--digits", "4"] if "--digits" not in args else []), *args])
    _one_line_error(res, needle)
    assert not (tmp_path / "c").exists()


def test_library_temperatures_must_be_finite(random_tiny):
    from critkl import Problem, certainty, generate, length_table

    for t in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="temperature must be >= 0 and finite"):
            generate(random_tiny, [Problem(1, 2)], temperature=t)
        with pytest.raises(ValueError, match="temperature"):
            certainty(torch.zeros(2, 4), temperature=t)
        with pytest.raises(ValueError, match="temperatures must be finite"):
            length_table(random_tiny, 1, size=1, temperatures=(t,))
    with pytest.raises(ValueError, match="extra_lengths must be an int >= 0"):
        length_table(random_tiny, 1, size=1, extra_lengths=-1)
    # a tiny temperature is (almost) greedy, not NaN probabilities
    problems = [Problem(12, 34), Problem(5, 678)]
    assert generate(random_tiny, problems, temperature=1e-300, max_new_tokens=5) == generate(
        random_tiny, problems, temperature=0.0, max_new_tokens=5)


# --------------------------------------------------------------------------- damaged files


def test_a_damaged_weight_file_gives_a_clear_error(tmp_path, random_tiny):
    folder = tmp_path / "m"
    save_model(random_tiny, CharTokenizer(), folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match=f"model folder {folder}: cannot load"):
        load_model(folder)
    res = runner.invoke(app, ["eval-length", str(folder), "--problems", "2", "--json", str(tmp_path / "c.json")])
    _one_line_error(res, str(folder))
    assert not (tmp_path / "c.json").exists()
    res = runner.invoke(app, ["rl", "--model", str(folder), "--out", str(tmp_path / "rl")])
    _one_line_error(res, str(folder))
    save_model(random_tiny, CharTokenizer(), tmp_path / "m2")
    (tmp_path / "m2" / "vocab.json").write_text("{not json")
    with pytest.raises(ValueError, match="vocab.json: not valid JSON"):
        load_model(tmp_path / "m2")


def test_nan_weights_are_refused_on_load(tmp_path):
    model = build_model("tiny", 1, seed=0)
    with torch.no_grad():
        model.transformer.h[0].mlp.c_fc.weight[0, 0] = float("nan")
    save_model(model, CharTokenizer(), tmp_path / "m")
    with pytest.raises(ValueError, match="NaN or infinite weights .*h.0.mlp.c_fc.weight"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not_a_dict"])
def test_a_damaged_pretrain_checkpoint_gives_a_clear_error(tmp_path, damage):
    out = tmp_path / "run"
    pretrain(_config(out), progress=False, until=1)
    state = out / "checkpoint" / "trainer_state.pt"
    if damage == "truncate":
        state.write_bytes(state.read_bytes()[:100])
    elif damage == "garbage":
        state.write_bytes(b"\x80\x04garbage" * 10)
    else:
        torch.save([1, 2, 3], state)
    before = _files(out)
    with pytest.raises(ValueError, match=f"{state}: "):
        pretrain(_config(out), progress=False)
    assert _files(out) == before
    res = runner.invoke(app, ["pretrain", "--config", str(out / "config.json"), "--resume"])
    _one_line_error(res, str(state))


def test_a_damaged_rl_checkpoint_gives_a_clear_error(tmp_path):
    model_dir = tmp_path / "m"
    save_model(build_model("tiny", 1, seed=0), CharTokenizer(), model_dir)
    ckpt = tmp_path / "rl" / "checkpoint.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"PK\x03\x04 not a torch file")
    args = ["rl", "--model", str(model_dir), "--train-digits", "2", "--advantage", "gae", "--episodes", "2", "--episodes-per-collect", "2",
            "--test-episodes", "2", "--in-dist-episodes", "1", "--out", str(tmp_path / "rl"), "--resume"]
    res = runner.invoke(app, args)
    _one_line_error(res, str(ckpt), "damaged")
    torch.save({"policy": {}, "optimizer": {}, "iteration": 1, "config": "lr=1"}, ckpt)
    res = runner.invoke(app, args)
    _one_line_error(res, str(ckpt), "not a JSON object")
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["checkpoint.pt"]  # no config.json, no log


# --------------------------------------------------------------------------- a loss that turns NaN


def test_pretrain_refuses_a_base_model_with_nan_weights(tmp_path):
    base = build_model("tiny", 2, seed=0)
    with torch.no_grad():
        base.transformer.ln_f.weight.fill_(float("nan"))
    save_model(base, CharTokenizer(), tmp_path / "nan-model")
    with pytest.raises(ValueError, match="NaN or infinite weights"):
        pretrain(_config(tmp_path / "run", init_from=str(tmp_path / "nan-model")), progress=False)
    assert not (tmp_path / "run").exists()


def test_pretrain_stops_when_the_weights_turn_nan_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    real_step = torch.optim.AdamW.step
    calls = []

    def poisoned_step(self, *a, **kw):  # the third update leaves NaN weights, as a diverging run would
        out = real_step(self, *a, **kw)
        calls.append(1)
        if len(calls) == 3:
            with torch.no_grad():
                self.param_groups[0]["params"][0].mul_(float("nan"))
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoned_step)
    out = tmp_path / "run"
    with pytest.raises(NonFiniteError, match="step 3: the weight .* NaN or infinite"):
        pretrain(_config(out, checkpoint_every=1, steps=6), progress=False)
    assert not (out / "final").exists()
    state = torch.load(out / "checkpoint" / "trainer_state.pt", weights_only=False)
    assert state["step"] == 2
    model, _ = load_model(out / "checkpoint")  # finite, loadable
    records = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]  # step 3's loss was still finite
    calls[:] = [1, 1]  # resumed from step 2: the update of step 3 leaves NaN weights, step 4's loss is NaN
    with pytest.raises(NonFiniteError, match="step 4: the training loss is nan"):
        pretrain(_config(out, checkpoint_every=100, steps=6, log_every=100), progress=False)
    assert torch.load(out / "checkpoint" / "trainer_state.pt", weights_only=False)["step"] == 2


def test_pretrain_cli_with_a_huge_lr_stops_with_a_clear_error(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, ["pretrain", "-n", "1", "--steps", "6", "--batch-size", "4", "--warmup-steps", "1",
                              "--lr", "1e30", "--eval-every", "100", "--eval-size", "2",
                              "--checkpoint-every", "1", "--threads", "1", "--out", str(out)])
    _one_line_error(res, "step 2: the training loss is nan", "the last checkpoint is kept")
    assert not (out / "final").exists()
    if (out / "checkpoint").exists():
        load_model(out / "checkpoint")  # whatever was saved is finite


def test_rl_stops_on_a_nan_loss_before_saving(tmp_path, monkeypatch):
    import critkl.rl.trainer as trainer_module

    real = trainer_module.a2c_loss
    seen = []

    def nan_on_second_collect(*a, **kw):
        terms = real(*a, **kw)
        seen.append(1)
        if len(seen) > 2:  # two minibatches of one episode per collect: the second collect's loss is NaN
            terms.total = terms.total * float("nan")
        return terms

    monkeypatch.setattr(trainer_module, "a2c_loss", nan_on_second_collect)
    cfg = RLConfig(out_dir=str(tmp_path / "rl"), train_digits=2, advantage="gae", episodes=6, episodes_per_collect=2,
                   minibatch_episodes=1, test_episodes=2, in_dist_episodes=1, eval_greedy=False, lr=1e-3, seed=3,
                   beta=2.0, threads=1)
    t = Trainer(cfg, lm=build_model("tiny", 1, seed=0), tokenizer=CharTokenizer())
    with pytest.raises(NonFiniteError, match="iteration 2: the training loss is nan"):
        t.run(resume=False)
    assert not (tmp_path / "rl" / "final").exists()
    assert torch.load(tmp_path / "rl" / "checkpoint.pt", weights_only=False)["iteration"] == 1
