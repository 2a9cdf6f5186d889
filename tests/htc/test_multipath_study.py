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


def test_multipath_study_config_is_validated():
    with pytest.raises(ValueError, match="seeds"):
        MultipathStudyConfig(seeds=0)
