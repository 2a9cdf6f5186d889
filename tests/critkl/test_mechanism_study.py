"""The mechanism study end to end on tiny settings: every arm runs, D is matched to B's strength,
the report carries the design block, the arms table and the Holm-corrected contrasts."""

import json

import pytest

from critkl.study import mechanism
from critkl.study.mechanism import matched_alpha

pytestmark = pytest.mark.filterwarnings("ignore::critkl.calibration.WeightCollapseWarning")


def test_matched_alpha_is_alpha_times_the_median_kl_weighted_weight():
    logs = [[{"kl": 0.1, "kl_weighted": 0.02}, {"kl": 0.1, "kl_weighted": 0.05}],
            [{"kl": 0.2, "kl_weighted": 0.06}, {"kl": 0.0, "kl_weighted": 0.0}]]  # KL 0: left out
    assert matched_alpha(2.0, logs) == pytest.approx(2.0 * 0.3)  # median of 0.2, 0.5, 0.3
    with pytest.raises(ValueError, match="cannot match"):
        matched_alpha(1.0, [[{"kl": 0.0, "kl_weighted": 0.0}]])


@pytest.mark.slow
def test_mechanism_study_runs_every_arm_and_reports_holm(tmp_path, monkeypatch):
    from critkl.study import reproduce

    monkeypatch.setattr(mechanism, "SEEDS", {k: 2 if k in "ABCD" else 1 for k in mechanism.SEEDS})
    tiny = {"episodes": 16, "episodes_per_collect": 8, "minibatch_episodes": 4, "test_episodes": 4,
            "sampled_test_episodes": 2, "in_dist_episodes": 0, "eval_every": 1, "model": "tiny-n3",
            "train_digits": 4}
    out = tmp_path / "mech"
    reproduce("mechanism", seeds=2, out=out, jobs=2, overrides=tiny)
    res = json.loads((out / "results.json").read_text())
    assert set(res["table"]) == {"A-standard", "B-prioritized", "C-shuffled", "D-matched", "E-no-kl",
                                 "F-top-entropy", "G-clip-higher"}
    assert res["alpha_d"] < mechanism.ALPHA  # the prioritized weights are below 1 on average
    cfg = json.loads((out / "runs" / "D-matched" / "seed0" / "config.json").read_text())
    assert cfg["alpha"] == pytest.approx(res["alpha_d"]) and cfg["kl"] == "standard"
    assert set(res["contrasts"]["primary"]) == {"B-A", "B-C", "B-D"}
    report = (out / "report.md").read_text()
    assert "Design (fixed before the runs" in report and "Holm" in report
