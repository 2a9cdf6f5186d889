"""critkl reproduce: experiment definitions, aggregation over seeds, and a tiny end-to-end study."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critkl.study import EXPERIMENTS, reproduce, rl_arms
from critkl.study.aggregate import curve, paired, read_log, t_half_width


def test_arms_of_each_rl_experiment():
    assert [a.name for a in rl_arms("prioritized-kl", "cpu")] == ["prioritized", "standard", "no-kl"]
    betas = [a.overrides.get("beta") for a in rl_arms("beta-sweep", "gpu") if a.name != "standard"]
    assert betas == [10.0, 50.0, 150.0, 500.0, 1000.0, 10000.0]
    levels = rl_arms("pretraining-levels", "gpu")
    assert [a.overrides["train_digits"] for a in levels] == [9, 11, 13, 15]
    cpu_levels = rl_arms("pretraining-levels", "cpu")  # N+1 at cpu scale: every tiny model is at 0% on N+2
    assert [(a.overrides["model"], a.overrides["train_digits"]) for a in cpu_levels] == [
        ("tiny-n4", 5), ("runs/critkl-pretraining-cpu/n5/final", 6)]
    check = {a.name: a.overrides for a in rl_arms("engine-check", "cpu")}
    assert check["ln_f"]["trainable"] == "ln_f" and check["ln_f-4digits"]["train_digits"] == 4
    with pytest.raises(ValueError, match="not an RL experiment"):
        rl_arms("certainty", "cpu")
    with pytest.raises(ValueError, match="scale must be one of"):
        rl_arms("prioritized-kl", "tpu")


def test_unknown_experiment_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="experiment must be one of"):
        reproduce("fig9", out=tmp_path)
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        reproduce("prioritized-kl", seeds=-1, out=tmp_path)
    assert "prioritized-kl" in EXPERIMENTS


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(0, 1), min_size=3, max_size=3), min_size=1, max_size=6))
def test_curve_matches_a_direct_computation(values):
    logs = [[{"episodes": 10 * i, "heldout_acc_sampled": v} for i, v in enumerate(seed_vals)]
            for seed_vals in values]
    c = curve(logs, "heldout_acc_sampled")
    assert c["episodes"] == [0, 10, 20]
    for i in range(3):
        col = [seed_vals[i] for seed_vals in values]
        assert math.isclose(c["mean"][i], float(np.mean(col)), abs_tol=1e-12)
        assert math.isclose(c["half"][i], t_half_width(col), abs_tol=1e-12)
        assert c["n"][i] == len(values)


def test_paired_verdicts():
    assert paired([0.5, 0.6, 0.7], [0.1, 0.2, 0.25])["verdict"] == "higher"
    assert paired([0.1, 0.2, 0.25], [0.5, 0.6, 0.7])["verdict"] == "lower"
    assert paired([0.5, 0.1, 0.3], [0.2, 0.4, 0.3])["verdict"] == "not significantly different"
    assert paired([0.5], [0.1])["verdict"] == "one seed: no interval"


def test_read_log_names_the_bad_line(tmp_path):
    (tmp_path / "log.jsonl").write_text('{"episodes": 0, "heldout_acc_sampled": 0.5}\n{oops\n')
    with pytest.raises(ValueError, match=r"log.jsonl:2: not JSON"):
        read_log(tmp_path)
    with pytest.raises(FileNotFoundError, match="run log missing"):
        read_log(tmp_path / "nothing")


TINY = {"episodes": 4, "episodes_per_collect": 2, "minibatch_episodes": 2, "test_episodes": 2, "advantage": "gae",
        "in_dist_episodes": 2, "eval_every": 1}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny study's settings from a random N = 1 model (RL on 2 digits): fast, and it runs every step."""
    from critkl.model import build_model, save_model
    from critkl.tokenizer import CharTokenizer

    folder = tmp_path_factory.mktemp("model") / "n1"
    save_model(build_model("tiny", 1, seed=0), CharTokenizer(), folder)
    return {**TINY, "model": str(folder)}


def test_tiny_kl_strength_study_end_to_end_and_adds_seeds(tmp_path, tiny, monkeypatch):
    from critkl.study import kl_strength

    monkeypatch.setattr(kl_strength, "ALPHAS", (0.1, 5.0))
    monkeypatch.setattr(kl_strength, "GRID_SEEDS", 1)
    md = reproduce("kl-strength", seeds=2, out=tmp_path, jobs=1, overrides=tiny)
    text = md.read_text()
    for part in ("## Verdict", "minimum detectable difference", "β calibrated to the start model",
                 "recommended", "![dose-response](dose_response.png)", "![weights](weights.png)"):
        assert part in text, part
    res = json.loads((tmp_path / "results.json").read_text())
    assert {k: v["seeds"] for k, v in res["arms"].items()} == {
        "no-kl": 1, "standard-a0.1": 1, "prioritized-a0.1": 1, "standard-a5": 2, "prioritized-a5": 2,
        "prioritized-paper-a5": 2}
    assert res["calibration"]["used"]["beta"] > 0 and res["verdicts"]["calibrated"]["main"]["n"] == 2
    assert res["verdicts"]["paper"]["main"]["n"] == 2
    prio = json.loads((tmp_path / "runs" / "prioritized-a5" / "seed0" / "config.json").read_text())
    assert prio["beta"] == res["calibration"]["used"]["beta"] and prio["alpha"] == 5.0
    for png in ("dose_response.png", "weights.png", "accuracy.png", "critical_tokens.png",
                "critical_tokens_a0.1.png"):
        assert (tmp_path / png).stat().st_size > 10_000
    starts = {json.loads((tmp_path / "runs" / a / "seed0" / "log.jsonl").read_text().splitlines()[0])[
        "heldout_p_gold"] for a in res["arms"]}
    assert len(starts) == 1  # every run starts from the same, shared evaluation
    before = (tmp_path / "runs" / "standard-a5" / "seed0" / "log.jsonl").read_text()
    reproduce("kl-strength", seeds=3, out=tmp_path, jobs=1, overrides=tiny)  # one more seed at α = 5
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["verdicts"]["calibrated"]["main"]["n"] == 3
    assert [x["seeds"] for x in res["meta"]["invocations"]] == [2, 3]  # the total wall time counts both
    assert "over 2 invocation(s)" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "runs" / "standard-a5" / "seed0" / "log.jsonl").read_text() == before  # reused
    with pytest.raises(ValueError, match="sets alpha per arm"):
        reproduce("kl-strength", seeds=1, out=tmp_path / "x", jobs=1, overrides={**tiny, "alpha": 1.0})


def test_tiny_prioritized_kl_study_end_to_end_and_resumes(tmp_path, tiny):
    md = reproduce("prioritized-kl", seeds=2, out=tmp_path, jobs=1, overrides=tiny)
    text = md.read_text()
    assert "Prioritized beats standard KL" in text and "![accuracy](accuracy.png)" in text
    res = json.loads((tmp_path / "results.json").read_text())
    assert set(res["logs"]) == {"prioritized", "standard", "no-kl"}
    assert all(len(v) == 2 for v in res["logs"].values())
    assert [r["episodes"] for r in res["logs"]["standard"][0]] == [0, 2, 4]
    assert (tmp_path / "accuracy.png").stat().st_size > 0
    assert res["claims"]["prioritized_vs_standard_end"]["n"] == 2
    # a random model is uncertain everywhere: the paper's β = 150 leaves w ≈ 0, and the report says so
    assert res["collapsed_arms"] == ["prioritized"]
    assert "prioritized KL (α=5, β=150) **(weight collapsed: not a test of the prioritized KL)**" in text
    if res["claims"]["no_signal"]:  # a random tiny model solves nothing: the report must say so
        assert "NOT TESTABLE" in text and "NOT REPRODUCED" not in text
    # a second call finds every run finished and only re-reads the logs
    before = (tmp_path / "runs" / "standard" / "seed0" / "log.jsonl").read_text()
    reproduce("prioritized-kl", seeds=2, out=tmp_path, jobs=1, overrides=tiny)
    assert (tmp_path / "runs" / "standard" / "seed0" / "log.jsonl").read_text() == before


def test_claims_without_any_success_are_not_testable():
    from critkl.study.reproduce import no_signal

    zero = [{"episodes": 0, "heldout_acc_sampled": 0.0}, {"episodes": 2, "train_acc": 0.0, "heldout_acc_sampled": 0.0}]
    assert no_signal({"prioritized": [zero], "standard": [zero, zero]})
    some = [dict(r) for r in zero]
    some[1]["train_acc"] = 0.03
    assert not no_signal({"prioritized": [zero], "standard": [some]})


def test_engine_check_verdicts_follow_the_paired_change():
    from critkl.study.experiments import Arm
    from critkl.study.reproduce import _engine_check_claims

    arms = [Arm("up", "rises", {}), Arm("down", "falls", {}), Arm("flat", "flat", {})]
    sums = {"up": [{"start": 0.5, "end": e} for e in (0.7, 0.72, 0.69)],
            "down": [{"start": 0.5, "end": e} for e in (0.2, 0.25, 0.1)],
            "flat": [{"start": 0.5, "end": e} for e in (0.45, 0.55, 0.5)]}
    text = _engine_check_claims(["up", "down", "flat"], arms, sums)["text"]
    assert "RISES" in text[0] and "FALLS" in text[1] and "DOES NOT MOVE" in text[2]


def test_pretraining_claims_on_hand_made_curves():
    from critkl.study.pretraining import drops_beyond_n, improves_with_n

    flat_zero = {3: {3: (0.98, 0.96, 1.0), 4: (0.0, 0.0, 0.0)}, 4: {4: (0.97, 0.95, 0.99), 5: (0.0, 0.0, 0.0)}}
    assert drops_beyond_n(flat_zero) and not improves_with_n(flat_zero)
    rising = {3: {3: (0.98, 0.96, 1.0), 4: (0.1, 0.06, 0.14)}, 4: {4: (0.97, 0.95, 0.99), 5: (0.5, 0.43, 0.57)}}
    assert drops_beyond_n(rising) and improves_with_n(rising)
    no_drop = {3: {3: (0.9, 0.85, 0.95), 4: (0.88, 0.83, 0.93)}}
    assert not drops_beyond_n(no_drop) and not improves_with_n(no_drop)
    from critkl.study.pretraining import undertrained

    weak_n5 = {**rising, 5: {5: (0.565, 0.5, 0.63), 6: (0.0, 0.0, 0.0)}}
    assert undertrained({"identical": weak_n5, "varying": rising}) == {5: {"identical": 0.565}}
    assert undertrained({"identical": rising}) == {}


def test_tiny_pretraining_study_runs_in_parallel_and_reports(tmp_path):
    over = {"steps": 2, "digits": (1, 2), "eval_size": 4}
    report = reproduce("pretraining", seeds=1, out=tmp_path, jobs=2, overrides=over)
    text = report.read_text()
    assert "### N = 1" in text and "### N = 2" in text and "Accuracy drops beyond N" in text
    assert "NOT TESTABLE (one N only)" not in text
    assert (tmp_path / "length_generalization.png").stat().st_size > 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data["pretraining"]) == {"1", "2"} and "identical" in data["claims"]
    # a re-run reads both models' measurements back instead of training or evaluating again
    (tmp_path / "n1" / "checkpoint").rename(tmp_path / "n1" / "moved")
    again = reproduce("pretraining", seeds=1, out=tmp_path, jobs=1, overrides=over)
    assert json.loads((again.parent / "results.json").read_text())["pretraining"] == data["pretraining"]
    assert not (tmp_path / "n1" / "checkpoint").exists()


def test_reproduce_command_checks_its_pretraining_options(tmp_path):
    from typer.testing import CliRunner

    from critkl.cli import app

    res = CliRunner().invoke(app, ["reproduce", "pretraining", "--digits", "3,x", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "--digits must be comma-separated integers" in res.output
    res = CliRunner().invoke(app, ["reproduce", "prioritized-kl", "--steps", "10", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "steps only apply to the pretraining experiment" in res.output
    assert not any(tmp_path.iterdir())


def test_model_digits_reads_n_and_names_the_model_on_error(tmp_path):
    from critkl.study.reproduce import model_digits

    assert model_digits("tiny-n3") == 3 and model_digits("tiny-n4") == 4
    with pytest.raises(ValueError, match="no config.json"):
        model_digits(str(tmp_path))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="critkl_max_digits"):
        model_digits(str(tmp_path))


def test_reproduce_set_overrides_are_checked_before_anything_runs(tmp_path):
    from typer.testing import CliRunner

    from critkl.cli import app, parse_settings

    assert parse_settings(["lr=3e-5", "trainable=ln_f|h\\.3\\.", "kl=none"]) == {
        "lr": 3e-5, "trainable": "ln_f|h\\.3\\.", "kl": "none"}
    res = CliRunner().invoke(app, ["reproduce", "prioritized-kl", "--set", "lrr=1", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "--set" in res.output and "'lrr'" in res.output
    res = CliRunner().invoke(app, ["reproduce", "prioritized-kl", "--set", "lr", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "KEY=VALUE" in res.output
    res = CliRunner().invoke(app, ["reproduce", "pretraining", "--set", "lr=1e-3", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "only apply to the RL experiments" in res.output
    res = CliRunner().invoke(app, ["reproduce", "prioritized-kl", "--set", "lr=-1", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "lr" in res.output
    assert not any(tmp_path.iterdir())


def test_beta_sweep_robustness_needs_a_significant_gain_not_only_non_negative_means():
    from critkl.study.experiments import rl_arms
    from critkl.study.reproduce import _claims

    arms = rl_arms("beta-sweep", "cpu")
    logs = {a.name: [[{"train_acc": 0.1}]] * 3 for a in arms}

    def sums(gain_of):
        return {a.name: [{"start": 0.1, "end": 0.2 + gain_of(a.name) + 0.01 * k, "auc": 0.2} for k in range(3)]
                for a in arms}

    noisy = sums(lambda n: 0.0)  # every β equal to standard: means ≥ 0, nothing significant
    assert "NOT REPRODUCED" in _claims("beta-sweep", arms, logs, noisy, [])["text"][0]
    better = sums(lambda n: 0.05 if n in ("beta-10", "beta-50", "beta-150", "beta-500") else 0.0)
    assert "): REPRODUCED" in _claims("beta-sweep", arms, logs, better, [])["text"][0]


def test_unpaired_matches_welch_from_scipy():
    from scipy import stats

    from critkl.study.aggregate import unpaired

    a, b = [0.2, 0.35, 0.3, 0.28], [0.1, 0.12, 0.2]
    d = unpaired(a, b)
    res = stats.ttest_ind(a, b, equal_var=False)
    lo, hi = res.confidence_interval(0.95)
    assert math.isclose(d["mean"], np.mean(a) - np.mean(b))
    assert math.isclose(d["half"], (hi - lo) / 2, rel_tol=1e-9)
    assert d["verdict"] == ("higher" if lo > 0 else "not significantly different")
    assert unpaired([0.1, 0.1], [0.3, 0.3])["verdict"] == "lower"
    assert unpaired([0.5], [0.1])["verdict"] == "one seed: no interval"
    assert unpaired([], [0.1])["verdict"] == "no data"


def test_pretraining_levels_plateau_needs_a_higher_start_and_a_smaller_gain():
    from critkl.study.reproduce import _claims

    arms = rl_arms("pretraining-levels", "cpu")
    logs = {a.name: [[{"train_acc": 0.1}]] * 3 for a in arms}

    def sums(start_hi, gain_lo, gain_hi):
        return {"n4": [{"start": 0.1 + 0.01 * k, "end": 0.1 + gain_lo + 0.012 * k, "auc": 0.2} for k in range(3)],
                "n5": [{"start": start_hi + 0.01 * k, "end": start_hi + gain_hi + 0.011 * k, "auc": 0.3}
                       for k in range(3)]}

    plateau = _claims("pretraining-levels", arms, logs, sums(0.4, 0.1, 0.01), [])
    assert "(plateau): REPRODUCED" in plateau["text"][0]
    assert plateau["gain_diff"]["verdict"] == "lower" and plateau["start_diff"]["verdict"] == "higher"
    same_gain = _claims("pretraining-levels", arms, logs, sums(0.4, 0.05, 0.05), [])
    assert "(plateau): NOT REPRODUCED" in same_gain["text"][0]
    no_head_start = _claims("pretraining-levels", arms, logs, sums(0.1, 0.1, 0.01), [])
    assert "(plateau): NOT REPRODUCED" in no_head_start["text"][0]


def test_pretraining_levels_refuses_a_model_override(tmp_path):
    with pytest.raises(ValueError, match="drop --model"):
        reproduce("pretraining-levels", out=tmp_path, overrides={"model": "tiny-n3"})
    assert not any(tmp_path.iterdir())


def test_a_finished_run_with_other_settings_is_not_read_back(tmp_path, tiny):
    md = reproduce("prioritized-kl", seeds=1, out=tmp_path, jobs=1, overrides=tiny)
    log = (tmp_path / "runs" / "standard" / "seed0" / "log.jsonl").read_text()
    with pytest.raises(ValueError, match=r"seed0/config.json: this finished run was made with other "
                                         r"settings \(lr: run 3e-05 vs now 0.001\)"):
        reproduce("prioritized-kl", seeds=1, out=tmp_path, jobs=1, overrides={**tiny, "lr": 1e-3})
    assert (tmp_path / "runs" / "standard" / "seed0" / "log.jsonl").read_text() == log
    assert md.is_file()


def test_a_missing_start_model_fails_before_any_run(tmp_path):
    with pytest.raises(ValueError, match=r"start model 'runs/critkl-pretraining-gpu/n7/final' not found.*'gpu scale'"):
        reproduce("prioritized-kl", scale="gpu", out=tmp_path / "study")
    levels = [a.overrides["model"] for a in rl_arms("pretraining-levels", "gpu")]
    assert levels[0] == "runs/critkl-pretraining-gpu/n7/final"  # where `reproduce pretraining --scale gpu` writes
    assert not (tmp_path / "study").exists()


def test_gpu_pretraining_recipe_reaches_the_trainer(tmp_path):
    """The gpu scale trains with the testbed's `small` recipe (lr 1e-3, batch 128); shrunk here to run on CPU."""
    over = {"steps": 2, "digits": (1,), "size": "tiny", "eval_size": 2}
    reproduce("pretraining", scale="gpu", out=tmp_path, jobs=1, overrides=over)
    used = json.loads((tmp_path / "n1" / "final" / "training_config.json").read_text())
    assert (used["lr"], used["batch_size"], used["warmup_steps"], used["position_jitter"]) == (1e-3, 128, 200, False)
