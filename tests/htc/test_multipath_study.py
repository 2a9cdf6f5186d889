import json

import numpy as np
import pytest
from typer.testing import CliRunner

from htc.cli import app
from htc.datasets import ConditionalSigmoidModel, random_taxonomy
from htc.multipath_study import DECODERS, MultipathStudyConfig, fit_marginals
from htc.stats import dataset_statistics


def test_generator_gives_multi_path_documents_and_its_own_marginals():
    tax = random_taxonomy(3, (3, 5), seed=0)
    gen = ConditionalSigmoidModel.random(tax, seed=0)
    x, y, p = gen.sample(3000, seed=1)
    stats = dataset_statistics(y, tax)
    assert stats["multi_path_docs"] / stats["documents"] > 0.4
    assert tax.is_consistent(y).all()
    # calibrated by construction: the marginals match label frequencies
    assert np.abs(p.mean(axis=0) - y.toarray().mean(axis=0)).max() < 0.03
    with pytest.raises(ValueError, match="tree"):
        ConditionalSigmoidModel.random(random_taxonomy(3, 3, dag=True, extra_parent_prob=1.0))


def test_conditional_fit_recovers_the_generator():
    tax = random_taxonomy(2, 3, seed=2)
    gen = ConditionalSigmoidModel.random(tax, dim=4, seed=2)
    x, y, _ = gen.sample(4000, seed=3)
    x_te, _, p_te = gen.sample(500, seed=4)
    (fitted,) = fit_marginals(tax, x, y, [x_te], conditional=True)
    assert np.abs(fitted - p_te).mean() < 0.03


def test_multipath_study_cli_writes_a_report_where_the_multi_path_decoder_wins(tmp_path):
    out = tmp_path / "mp"
    res = CliRunner().invoke(app, ["multipath-study", "--seeds", "1", "--train-docs", "1500",
                                   "--test-docs", "3000", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "multipath.png").stat().st_size > 0
    assert "optimal_hf_multi" in (out / "README.md").read_text()
    oracle = json.loads((out / "results.json").read_text())["runs"][0]["models"]["oracle"]
    best = max(DECODERS, key=lambda d: oracle[d]["h_samples_f"])
    assert best == "optimal_hf_multi", {d: oracle[d]["h_samples_f"] for d in DECODERS}
    assert json.loads((out / "run.json").read_text())["kind"] == "htc multipath-study"


def test_multipath_study_refuses_another_commands_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"encoder": "tfidf", "loss": "bce"}))
    res = CliRunner().invoke(app, ["multipath-study", "--seeds", "1", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "holds a `htc train` run" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_multipath_study_config_is_validated():
    with pytest.raises(ValueError, match="seeds"):
        MultipathStudyConfig(seeds=0)


def test_multipath_study_on_a_debtags_packages_file_runs_every_loss(tmp_path):
    """The real-corpus study end to end on a small Packages file in Debian's format (the study
    itself reads apt's index): every loss × decoder, a report with the corpus table."""
    pytest.importorskip("torch")
    from htc.losses import LOSSES

    rng = np.random.default_rng(0)
    facets = {"devel": ["editor", "library", "debugger"], "role": ["program", "shared-lib"],
              "use": ["editing", "viewing", "printing"]}
    records = []
    for i in range(80):
        tags = [f"{f}::{t}" for f in facets if rng.random() < 0.7
                for t in rng.choice(facets[f], size=1 + int(rng.random() < 0.3), replace=False)]
        tags = tags or ["role::program"]
        words = " ".join(t.split("::")[1] for t in tags)
        records.append(f"Package: pkg{i}\nDescription: a tool for {words} number {i}\n"
                       f"Tag: {', '.join(tags)}\n")
    packages = tmp_path / "Packages"
    packages.write_text("\n".join(records))
    out = tmp_path / "real"
    res = CliRunner().invoke(app, ["multipath-study", "--corpus", "debtags", "--packages",
                                   str(packages), "--seeds", "1", "--epochs", "2", "--hidden", "8",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results-debtags.json").read_text())
    assert results["corpus"]["documents"] == 80 and results["corpus"]["index"] == ["Packages"]
    assert set(results["summary"]) == set(LOSSES)
    for loss in LOSSES:
        assert set(DECODERS) <= set(results["runs"][0]["models"][loss])
    report = (out / "README-debtags.md").read_text()
    assert "| corpus | source | licence | documents |" in report
    assert "htc multipath-study --corpus debtags --seeds 1" in report
    assert (out / "multipath-debtags.png").stat().st_size > 0
