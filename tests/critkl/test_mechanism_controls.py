"""Building blocks of the mechanism study: the critic-free group baseline, the weight-shuffle
control, high-entropy token selection, clip-higher, the exact KL, and the statistics (verdicts
against δ, Holm over contrasts, the start evaluation's noise in gain intervals)."""

import itertools
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from tests.critkl.test_rl_trainer import _trainer as rl_trainer

from critkl.kl import exact_kl
from critkl.rl import RLConfig, group_advantages
from critkl.rl.ppo import ppo_loss
from critkl.rl.token_selection import shuffle_weights, top_entropy_mask
from critkl.study.power import gain_interval, holm, judge, sign_flip_p, verdict_of

pytestmark = pytest.mark.filterwarnings("ignore::critkl.calibration.WeightCollapseWarning")


# ------------------------------------------------------------------ exact KL, against a brute-force sum
@given(st.lists(st.floats(-6, 6), min_size=3, max_size=3), st.lists(st.floats(-6, 6), min_size=3, max_size=3),
       st.sampled_from([0.5, 1.0, 2.0]))
def test_exact_kl_equals_the_brute_force_sum_on_a_tiny_vocabulary(z, zr, t):
    p = [math.exp(a / t) for a in z]
    q = [math.exp(a / t) for a in zr]
    p = [x / sum(p) for x in p]
    q = [x / sum(q) for x in q]
    want = sum(pa * math.log(pa / qa) for pa, qa in zip(p, q))
    got = float(exact_kl(torch.tensor([z], dtype=torch.float64), torch.tensor([zr], dtype=torch.float64), t))
    assert got == pytest.approx(want, abs=1e-5)


def test_exact_kl_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        exact_kl(torch.zeros(2, 3), torch.zeros(2, 4))


# ------------------------------------------------------------------ group baseline (RLOO)
@given(st.lists(st.sampled_from([0.0, 1.0, -1.0, 0.5]), min_size=2, max_size=12), st.integers(2, 4))
def test_group_advantages_match_a_leave_one_out_loop(rewards, g):
    rewards = rewards[: len(rewards) // g * g]
    if not rewards:
        return
    got = group_advantages(torch.tensor(rewards, dtype=torch.float64), g).tolist()
    for i, r in enumerate(rewards):
        group = rewards[i // g * g: i // g * g + g]
        others = [x for j, x in enumerate(group) if j != i % g]
        assert got[i] == pytest.approx(r - sum(others) / len(others))


def test_group_advantages_refuse_a_ragged_batch():
    with pytest.raises(ValueError, match="multiple of group_size"):
        group_advantages(torch.zeros(5), 2)


def _trainer(tmp_path, name, **kw):
    """The RL trainer tests' tiny trainer, with collects of 4 episodes (two groups of 2)."""
    return rl_trainer(tmp_path, name, **{"episodes": 8, "episodes_per_collect": 4, "minibatch_episodes": 2, **kw})


def test_group_advantage_samples_each_problem_group_size_times(tmp_path, monkeypatch):
    t = _trainer(tmp_path, "group", advantage="group", group_size=2, kl="standard")
    seen = []
    original = t.prepare

    def spy(ro):
        seen.append([(p.a, p.b) for p in ro.problems])
        prep = original(ro)
        returns = ro.rewards.sum(-1)
        want = group_advantages(returns, 2)
        got = (prep["adv"] * ro.action_mask).sum(-1) / ro.action_mask.sum(-1)
        assert torch.allclose(got, want) and not prep["ret"].any()
        return prep

    monkeypatch.setattr(t, "prepare", spy)
    t.run(resume=False)
    assert seen and all(ps[0] == ps[1] and ps[2] == ps[3] for ps in seen)
    rec = json.loads((tmp_path / "group" / "log.jsonl").read_text().splitlines()[-1])
    for key in ("kl_exact", "kl_exact_critical", "kl_exact_other"):
        assert key in rec


@pytest.mark.parametrize("kw, field", [
    (dict(advantage="group", group_size=1), "group_size"),
    (dict(advantage="group", group_size=3, episodes_per_collect=4), "episodes_per_collect"),
    (dict(advantage="critic"), "advantage"),
    (dict(top_entropy_quantile=0.0), "top_entropy_quantile"),
    (dict(ppo_clip_high=-0.1), "ppo_clip_high"),
])
def test_new_settings_name_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        RLConfig(**kw)


# ------------------------------------------------------------------ the weight-shuffle control
@given(st.integers(1, 5), st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_shuffle_keeps_the_weight_multiset_of_a_collect(b, t, seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(b, t, generator=g)
    m = torch.rand(b, t, generator=g) < 0.6
    s = shuffle_weights(w * m, m, torch.Generator().manual_seed(seed + 1))
    assert sorted(s[m].tolist()) == sorted(w[m].tolist())
    assert not s[~m].any()


def test_shuffled_arm_applies_the_collects_weights_elsewhere(tmp_path, monkeypatch):
    plain = _trainer(tmp_path, "plain", kl="prioritized", episodes=4)
    mixed = _trainer(tmp_path, "mixed", kl="prioritized", episodes=4, weight_shuffle=True)
    from critkl.arithmetic import sample_rl
    from critkl.rollout import sample_episodes

    rng = np.random.default_rng(0)
    ro = sample_episodes(plain.policy.lm, [sample_rl(1, 1, rng) for _ in range(4)], 2.0,
                         torch.Generator().manual_seed(0))
    a, b = plain.prepare(ro)["weight"], mixed.prepare(ro)["weight"]
    m = ro.action_mask
    assert sorted(a[m].tolist()) == pytest.approx(sorted(b[m].tolist()))
    assert not torch.equal(a, b)


# ------------------------------------------------------------------ high-entropy tokens, clip-higher
def test_top_entropy_mask_keeps_the_top_fraction():
    e = torch.arange(10.0).reshape(2, 5)
    m = torch.ones(2, 5, dtype=torch.bool)
    assert top_entropy_mask(e, m, 0.2).sum() == 2 and top_entropy_mask(e, m, 0.2)[1, 3:].all()
    assert top_entropy_mask(e, m, 1.0).sum() == 10


def test_clip_higher_lets_the_ratio_rise_further():
    args = (torch.tensor([[0.0]]), torch.tensor([[-1.0]]), torch.tensor([[1.0]]), torch.zeros(1, 1),
            torch.zeros(1, 1), torch.zeros(1, 1), torch.tensor(0.0), torch.tensor([[1]]))
    assert float(ppo_loss(*args, clip=0.2).policy) == pytest.approx(-1.2)
    assert float(ppo_loss(*args, clip=0.2, clip_high=0.28).policy) == pytest.approx(-1.28)


# ------------------------------------------------------------------ verdicts, Holm, start noise
@pytest.mark.parametrize("diffs, verdict, clears", [
    ([0.010, 0.012, 0.011, 0.013, 0.009, 0.011], "REPRODUCED", False),   # inside (0, δ)
    ([0.060, 0.062, 0.061, 0.063, 0.059, 0.061], "REPRODUCED", True),    # above δ
    ([0.030, -0.020, 0.010, -0.010, 0.000, 0.020], "REFUTED", False),    # straddles 0, below δ
    ([0.09, -0.08, 0.07, -0.06, 0.05, -0.02], "INCONCLUSIVE", False),    # straddles 0 and δ
])
def test_verdict_rule_on_hand_made_intervals(diffs, verdict, clears):
    j = judge(diffs, effect=0.05)
    assert (j["verdict"], j["clears_effect"]) == (verdict, clears)
    assert verdict_of(j["low"], j["high"], 0.05) == (verdict, clears)


def test_sign_flip_p_matches_enumeration():
    d = [0.3, -0.1, 0.2, 0.4, 0.05]
    obs = abs(sum(d))
    hits = sum(abs(sum(s * x for s, x in zip(signs, d))) >= obs - 1e-12
               for signs in itertools.product([-1, 1], repeat=len(d)))
    assert sign_flip_p(d) == pytest.approx(hits / 2 ** len(d))


def test_holm_widens_the_first_step_to_bonferroni_and_keeps_p_monotone():
    rng = np.random.default_rng(0)
    contrasts = {name: list(rng.normal(mu, 0.02, 16)) for name, mu in (("B-A", 0.03), ("B-C", 0.01),
                                                                          ("B-D", 0.0))}
    r = holm(contrasts, effect=0.02)
    first = min(r.values(), key=lambda x: x["holm_rank"])
    assert first["level"] == pytest.approx(1 - 0.05 / 3)
    assert first["half"] > judge(contrasts[min(r, key=lambda n: r[n]["holm_rank"])], 0.02)["half"]
    ranked = sorted(r.values(), key=lambda x: x["holm_rank"])
    assert all(a["p_holm"] <= b["p_holm"] for a, b in itertools.pairwise(ranked))
    assert all(x["p_holm"] >= x["p"] for x in ranked)


def test_gain_interval_includes_the_start_evaluations_noise():
    ends = [0.20, 0.22, 0.18, 0.21, 0.19]
    without = gain_interval(ends, start=0.117)
    with_noise = gain_interval(ends, start=0.117, start_se=0.02)
    assert with_noise["mean"] == without["mean"]
    assert with_noise["half"] > without["half"]
    # with a huge number of seeds the interval shrinks to the start term alone: ±1.96·σ_start
    many = gain_interval(list(np.full(10_000, 0.2) + np.random.default_rng(0).normal(0, 1e-4, 10_000)),
                         start=0.117, start_se=0.02)
    assert many["half"] == pytest.approx(1.96 * 0.02, rel=0.01)
