"""The shipped tiny-n3 model: loads, is small, is accurate in distribution and degrades beyond N."""

import json

import numpy as np
from transformers import GPT2LMHeadModel

from critkl import CharTokenizer, eval_set
from critkl.critical import analyse, delta_j_table
from critkl.evaluate import accuracy
from critkl.model import PRETRAINED_DIR


def test_loads_as_hf_model_and_tokenizer(tiny_n3):
    model, tok = tiny_n3
    assert isinstance(model, GPT2LMHeadModel) and isinstance(tok, CharTokenizer)
    assert model.config.critkl_max_digits == 3
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    folder = PRETRAINED_DIR / "tiny-n3"
    assert sum(f.stat().st_size for f in folder.iterdir()) < 5_000_000
    config = json.loads((folder / "training_config.json").read_text())
    assert config["max_digits"] == 3 and config["size"] == "tiny"


def test_accurate_in_distribution_and_worse_beyond(tiny_n3):
    model, _ = tiny_n3
    inside = [p for d in (1, 2, 3) for k in ("identical", "varying") for p in eval_set(d, k, size=20, seed=11)]
    acc_in = accuracy(model, inside).mean()
    acc_5 = accuracy(model, eval_set(5, "identical", size=30, seed=11)).mean()
    assert acc_in >= 0.95
    assert acc_5 <= acc_in - 0.3


def test_delta_j_table_on_tiny_n3_is_consistent(tiny_n3):
    model, _ = tiny_n3
    gens = analyse(model, eval_set(4, "identical", size=6, seed=5), 3, source="ground_truth")
    row = delta_j_table(gens, 3, source="ground_truth")
    assert row.critical_tokens == 6 * 12  # 2 operands x 3 lines x (comma, digit)
    # the mean over all tokens of ΔJ is 0 by construction, so the two groups balance
    for g in gens:
        assert abs(g.delta.mean()) < 1e-9
    assert 0 <= row.j_critical <= 1 and 0 <= row.j_non_critical <= 1
    assert np.isfinite(row.critical[0]) and np.isfinite(row.non_critical[0])


def test_tiny_n4_has_some_n_plus_1_success():
    """tiny-n4 is shipped as the start model with real N+1 success (the paper's RL precondition)."""
    from critkl import load_pretrained

    model, _ = load_pretrained("tiny-n4")
    assert model.config.critkl_max_digits == 4
    assert sum(f.stat().st_size for f in (PRETRAINED_DIR / "tiny-n4").iterdir()) < 5_000_000
    inside = [p for k in ("identical", "varying") for p in eval_set(4, k, size=20, seed=11)]
    assert accuracy(model, inside).mean() >= 0.9
    acc_5 = accuracy(model, eval_set(5, "varying", size=60, seed=11)).mean()
    assert 0.05 <= acc_5 <= 0.6  # measured 25.5% on 200 problems
