"""``htc reproduce`` end to end on a small synthetic HWV-format folder (TF-IDF, 2 seeds)."""

import json

import numpy as np
import pytest

from htc.calibration import BOUNDS
from htc.reproduce import DECODERS, LOSS_RUNS, ReproduceConfig, run

WORDS = {"Science": "atom cell", "Physics": "quark field", "Biology": "gene enzyme",
         "Arts": "paint song", "Music": "chord tempo", "Painting": "brush canvas"}


def _folder(tmp_path, n_val=60, n_test=30):
    folder = tmp_path / "hwv"
    folder.mkdir()
    (folder / "hwv.taxonomy").write_text("Root\tScience\tArts\nScience\tPhysics\tBiology\n"
                                         "Arts\tMusic\tPainting\n")
    paths = [["Science", "Physics"], ["Science", "Biology"], ["Arts", "Music"],
             ["Arts", "Painting"]]
    rng = np.random.default_rng(0)
    for name, n in (("hwv_val.json", n_val), ("hwv_test.json", n_test)):
        lines = []
        for i in range(n):
            path = paths[i % 4]
            words = " ".join(WORDS[p] for p in path) + " " + " ".join(
                rng.choice(["the", "a", "of", "and", "to"], size=5))
            lines.append(json.dumps({"token": [words], "label": path}))
        (folder / name).write_text("\n".join(lines) + "\n")
    return tmp_path


@pytest.mark.parametrize("jobs", [1, 2])
def test_reproduce_writes_a_complete_report(tmp_path, jobs):
    data = _folder(tmp_path)
    out = run(ReproduceConfig(encoder="tfidf", seeds=2, epochs=2, data_dir=str(data),
                              out=str(tmp_path / "out"), jobs=jobs))
    res = json.loads((out / "results.json").read_text())
    assert set(res["raw"]) == {name for name, _, _ in LOSS_RUNS}
    for runs in res["raw"].values():
        assert [r["seed"] for r in runs] == [0, 1]
        for r in runs:
            assert set(r["scores"]) == set(DECODERS)
            assert {"optimal", "optimal_hf_calibrated"} <= set(DECODERS)
            for dec in ("optimal_hf", "optimal_hf_calibrated"):
                assert 0 <= r["scores"][dec]["h_micro_f"] <= 1
                assert 0 <= r["scores"][dec]["h_samples_f"] <= 1
            cal = r["calibration"]
            assert BOUNDS[0] <= cal["temperature"] <= BOUNDS[1]
            assert cal["nll_after"] <= cal["nll_before"] + 1e-6
            assert r["optimal_picked"] in ("optimal_hf", "optimal_hf_multi")
            if r["optimal_picked"] == "optimal_hf":  # then "optimal" is optimal_hf
                assert r["scores"]["optimal"] == r["scores"]["optimal_hf"]
    assert res["meta"]["jobs"] == (1 if jobs == 1 else 2)
    assert set(res["summary"]["findings"]["optimal_vs_tuned"]["bce"]) == {"h_micro_f",
                                                                          "h_samples_f"}
    md = (out / "report.md").read_text()
    assert "## Findings" in md and "CHAMP runs with β = 1e-4" in md
    assert "### per-document hF1" in md and "| optimal_hf_calibrated |" in md
    assert "pools the node counts of all documents" in md
    assert "**Temperature scaling before optimal decoding**" in md
    assert "It picked:" in md
    assert (out / "hf1_vs_threshold.png").stat().st_size > 0
    assert (out / "per_depth.png").stat().st_size > 0


def test_fit_rejects_features_of_the_wrong_size(tmp_path):
    from htc.datasets import load_hwv
    from htc.training import TrainConfig, Trainer

    hwv = load_hwv(_folder(tmp_path), seed=0)
    trainer = Trainer(TrainConfig(encoder="tfidf", epochs=1), hwv.taxonomy, progress=False)
    with pytest.raises(ValueError, match="one row per train and dev"):
        trainer.fit(hwv.train, hwv.dev, inputs=(np.zeros((3, 4)), np.zeros((2, 4))))
