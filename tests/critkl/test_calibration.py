"""β calibration of the prioritized-KL weight, the collapse flag and the trainer's run-time warning."""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from critkl import load_pretrained
from critkl.calibration import (
    COLLAPSE_THRESHOLD,
    WeightCollapseWarning,
    at_beta,
    beta_for,
    calibrate,
    calibrate_table,
    gold_certainties,
    is_collapsed,
    recommend,
    rl_problems,
    round_beta,
    weights,
)
from critkl.cli import app
from critkl.kl import prioritized_weight
from critkl.model import build_model, max_digits_of, shipped_models
from critkl.rl import RLConfig, Trainer
from critkl.tokenizer import CharTokenizer


def test_beta_for_a_hand_example():
    c = np.array([0.998] * 10)  # ln 0.5 / ln 0.998 = 346.2, rounded to two significant figures
    assert beta_for(c, quantile=0.1, target=0.5) == round_beta(math.log(0.5) / math.log(0.998))  # 346.2 → 350
    assert beta_for(c, quantile=0.1, target=0.5) == 350.0
    assert math.isnan(beta_for(np.ones(5)))  # certain everywhere: no β can lower a weight


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.5, 0.99999), min_size=5, max_size=200), st.floats(0.05, 0.5), st.floats(0.1, 0.9))
def test_beta_for_gives_the_target_weight_at_the_quantile(certs, quantile, target):
    c = np.array(certs)
    beta = beta_for(c, quantile, target)
    q = dict(q=quantile, method="inverted_cdf")  # order statistics commute with the monotone c ↦ c^β
    w_q = float(np.quantile(weights(c, beta), **q))
    exact = math.log(target) / math.log(float(np.quantile(c, **q)))
    assert abs(beta - exact) <= 0.05 * exact  # two significant figures
    assert w_q == pytest.approx(target ** (beta / exact), rel=1e-6)


def test_weights_match_prioritized_weight():
    c = np.array([1.0, 0.999, 0.9, 0.5])
    expected = prioritized_weight(torch.tensor(c), beta=150.0).numpy()
    assert np.allclose(weights(c, 150.0), expected, rtol=1e-6, atol=1e-30)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="quantile"):
        beta_for(np.array([0.9]), quantile=1.5)
    with pytest.raises(ValueError, match="target"):
        beta_for(np.array([0.9]), target=0.0)
    with pytest.raises(ValueError, match="digits must exceed"):
        rl_problems(4, 4, 10)


@pytest.fixture(scope="module")
def tiny_n4_table():
    lm, _ = load_pretrained("tiny-n4")
    table = gold_certainties(lm, rl_problems(4, 5, 48), 4, ("shannon", "max_prob"), (1.0, 4.0))
    return lm, table


def test_calibration_separates_critical_from_other_tokens(tiny_n4_table):
    _, table = tiny_n4_table
    rows = calibrate_table(table)
    best = recommend(rows)
    assert best.usable and best.temperature == 1.0
    assert best.other.p10 == pytest.approx(0.5, abs=0.05)  # the rule, up to β's rounding
    assert best.other.p50 > 0.9 and best.critical.p50 < 0.2  # w ≈ 1 on ordinary tokens, w ≪ 1 on critical
    official = at_beta("max_prob", 4.0, 150.0, *table[("max_prob", 4.0)])
    assert is_collapsed(official.other.p50) and official.other.p90 < 1e-3  # the official setting: no KL at all


def test_calibrate_end_to_end_is_deterministic(tiny_n4_table):
    lm, _ = tiny_n4_table
    a = calibrate(lm, problems=16, temperatures=(1.0,))
    b = calibrate(lm, problems=16, temperatures=(1.0,))
    assert [r.beta for r in a] == [r.beta for r in b] and len(a) == 2


@pytest.mark.parametrize("name", shipped_models())
def test_the_default_config_does_not_collapse_on_shipped_models(name):
    cfg = RLConfig(model=name).resolved()
    lm, _ = load_pretrained(name)
    n = max_digits_of(lm)
    crit, other = gold_certainties(lm, rl_problems(n, n + 1, 32), n, (cfg.certainty,),
                                   (cfg.certainty_temperature,))[(cfg.certainty, cfg.certainty_temperature)]
    w_other = weights(other, cfg.beta)
    assert not is_collapsed(float(np.median(w_other)))
    assert np.median(weights(crit, cfg.beta)) < np.median(w_other)


def test_collapse_threshold():
    assert is_collapsed(COLLAPSE_THRESHOLD - 1e-9) and not is_collapsed(COLLAPSE_THRESHOLD)


def _trainer(tmp_path, **kw):
    cfg = dict(out_dir=str(tmp_path), train_digits=2, advantage="gae", episodes=4, episodes_per_collect=2, minibatch_episodes=1,
               test_episodes=2, in_dist_episodes=1, eval_greedy=False, lr=1e-3, seed=0)
    return Trainer(RLConfig(**{**cfg, **kw}), lm=build_model("tiny", 1, seed=0), tokenizer=CharTokenizer())


def test_trainer_warns_once_and_flags_a_collapsed_weight(tmp_path):
    t = _trainer(tmp_path / "a", variant="official")  # a random model is uncertain: w ≈ 0 everywhere
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = [t.step(), t.step()]
    warned = [w for w in caught if issubclass(w.category, WeightCollapseWarning)]
    assert len(warned) == 1 and "not a test of the prioritized KL" in str(warned[0].message)
    assert all(r["weight_collapsed"] for r in recs)


def test_trainer_is_silent_when_the_weight_holds(tmp_path):
    t = _trainer(tmp_path / "b", kl="prioritized", beta=0.0)  # w ≡ 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = t.step()
    assert not [w for w in caught if issubclass(w.category, WeightCollapseWarning)]
    assert rec["weight_collapsed"] is False
    assert "weight_collapsed" not in _trainer(tmp_path / "c", kl="standard").step()


def test_calibrate_command(tmp_path):
    res = CliRunner().invoke(app, ["calibrate", "tiny-n4", "--problems", "8", "--temperatures", "1",
                                   "--beta", "150", "--json", str(tmp_path / "cal.json")])
    assert res.exit_code == 0, res.output
    assert "recommended" in res.output and "--beta" in res.output and (tmp_path / "cal.json").is_file()
    bad = CliRunner().invoke(app, ["calibrate", "tiny-n4", "--temperatures", "1,x"])
    assert bad.exit_code == 2 and "--temperatures" in bad.output
    bad = CliRunner().invoke(app, ["calibrate", "tiny-n4", "--temperatures", "0"])
    assert bad.exit_code == 2 and "> 0" in bad.output
