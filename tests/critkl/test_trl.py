"""critkl.trl: prioritized KL inside TRL's GRPOTrainer (skipped without the ``trl`` extra)."""

import math
import subprocess
import sys
import warnings

import pytest
import torch

pytest.importorskip("trl")

from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from critkl.kl import certainty, prioritized_weight  # noqa: E402
from critkl.model import resolve  # noqa: E402
from critkl.trl import CERTAINTY_KEY, PrioritizedGRPOConfig, PrioritizedGRPOTrainer  # noqa: E402
from critkl.trl.example import arithmetic_dataset, arithmetic_reward, load_policy  # noqa: E402

MODEL = str(resolve("tiny-n3"))
G, P, COMPLETION = 4, 2, 40  # generations per prompt, prompts, completion tokens
ALPHA, KIND, TC = 0.5, "shannon", 1.3
COMMON = dict(beta=ALPHA, num_generations=G, per_device_train_batch_size=G * P, max_completion_length=COMPLETION,
              temperature=1.5, max_steps=1, report_to="none", use_cpu=True, save_strategy="no", seed=0,
              disable_dropout=True, bf16=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The models are tiny: one CPU thread is as fast and leaves the other core alone."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _trainer(cls, config_cls, tmp, **extra):
    _, tokenizer = load_policy(MODEL)  # tokenizer with '%' as EOS
    args = config_cls(output_dir=str(tmp), **COMMON, **extra)
    trainer = cls(model=MODEL, reward_funcs=arithmetic_reward, args=args,
                  train_dataset=arithmetic_dataset(8, max_digits=2, seed=0), processing_class=tokenizer)
    gen = torch.Generator().manual_seed(1)  # move the policy away from the reference, the same way each time
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's training loop, which is not run here
    return trainer


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trl")
    torch.manual_seed(0)
    prio = _trainer(PrioritizedGRPOTrainer, PrioritizedGRPOConfig, tmp / "p", certainty_kind=KIND,
                    certainty_temperature=TC, kl_weight_beta=3.0, kl_weight_slope=0.8, kl_weight_intercept=0.1)
    ref = _trainer(GRPOTrainer, GRPOConfig, tmp / "t")
    rows = arithmetic_dataset(P, max_digits=2, seed=1)
    batch = [rows[i] for i in range(P) for _ in range(G)]
    inputs = prio._generate_and_score_completions(batch)
    gen = torch.Generator().manual_seed(2)  # non-zero advantages so the policy term is not trivial
    inputs["advantages"] = torch.randn(inputs["advantages"].shape, generator=gen)
    return prio, ref, inputs


def _reference_logits(trainer, inputs, model=None):
    model = trainer.ref_model if model is None else model
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    k = inputs["completion_ids"].size(1)
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits[:, -(k + 1):-1].float()


def _set_weight(trainer, beta, slope, intercept):
    trainer.args.kl_weight_beta, trainer.args.kl_weight_slope, trainer.args.kl_weight_intercept = beta, slope, intercept


def test_weight_one_equals_trl_loss(setup):
    prio, trl_trainer, inputs = setup
    _set_weight(prio, 3.0, 0.0, 1.0)  # w ≡ 1
    try:
        ours = prio.compute_loss(prio.model, inputs)
    finally:
        _set_weight(prio, 3.0, 0.8, 0.1)
    theirs = trl_trainer.compute_loss(trl_trainer.model, inputs)
    assert prio.beta == ALPHA  # the per-token coefficient was put back
    assert abs(ours.item() - theirs.item()) <= 1e-6
    assert prio._metrics["train"]["kl"][-1] > 1e-4  # the KL term is really there
    assert prio._metrics["train"]["kl_weighted"][-1] == pytest.approx(prio._metrics["train"]["kl"][-1], rel=1e-6)


def test_prioritized_loss_matches_hand_computation(setup):
    prio, trl_trainer, inputs = setup
    ours = float(prio.compute_loss(prio.model, inputs))
    full = float(trl_trainer.compute_loss(trl_trainer.model, inputs))
    trl_trainer.beta = 0.0  # TRL's policy term alone
    try:
        policy_term = float(trl_trainer.compute_loss(trl_trainer.model, inputs))
    finally:
        trl_trainer.beta = ALPHA
    # hand: policy log-probs, reference log-probs and certainty from plain forwards, critkl.kl weight
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    attn = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    k, t = inputs["completion_ids"].size(1), prio.temperature
    targets = inputs["completion_ids"][..., None]
    with torch.no_grad():
        logits = prio.model(input_ids=ids, attention_mask=attn).logits[:, -(k + 1):-1].float()
    ref_logits = _reference_logits(prio, inputs)
    logp = torch.log_softmax(logits / t, -1).gather(-1, targets).squeeze(-1)
    ref_logp = torch.log_softmax(ref_logits / t, -1).gather(-1, targets).squeeze(-1)
    kl = torch.exp(ref_logp - logp) - (ref_logp - logp) - 1
    w = prioritized_weight(certainty(ref_logits, KIND, TC), 3.0, 0.8, 0.1)
    mask = inputs["completion_mask"].float()
    hand = policy_term + ALPHA * float((w * kl * mask).sum() / inputs["num_items_in_batch"])  # "dapo" loss
    assert abs(ours - full) > 1e-4  # the weight matters
    assert ours == pytest.approx(hand, rel=1e-5, abs=1e-6)


def test_certainty_matches_critkl_kl(setup):
    prio, _, inputs = setup
    expected = certainty(_reference_logits(prio, inputs), KIND, TC)
    assert inputs[CERTAINTY_KEY].shape == inputs["completion_ids"].shape
    assert torch.allclose(inputs[CERTAINTY_KEY], expected, atol=1e-5)
    assert prio.ref_logp_error is not None and prio.ref_logp_error < 1e-5  # same logits as TRL's reference pass
    metrics = prio._metrics["train"]
    w = prioritized_weight(expected[inputs["completion_mask"].bool()], 3.0, 0.8, 0.1)
    assert metrics["kl_weight/mean"][0] == pytest.approx(float(w.mean()), rel=1e-5)
    assert metrics["kl_weight/p50"][0] == pytest.approx(float(w.quantile(0.5)), rel=1e-5)
    assert metrics["kl_weight/min"][0] == pytest.approx(float(w.min()), rel=1e-5)


def test_certainty_under_bf16_autocast(tmp_path):
    """TRL's default bf16 autocast: the certainty's logits follow TRL's head, within bf16 rounding."""
    _, tokenizer = load_policy(MODEL)
    args = PrioritizedGRPOConfig(output_dir=str(tmp_path), **{**COMMON, "bf16": True, "max_completion_length": 16},
                                 certainty_kind=KIND, certainty_temperature=TC)
    trainer = PrioritizedGRPOTrainer(model=MODEL, reward_funcs=arithmetic_reward, args=args,
                                     train_dataset=arithmetic_dataset(4, max_digits=1), processing_class=tokenizer)
    rows = arithmetic_dataset(P, max_digits=1, seed=1)
    inputs = trainer._generate_and_score_completions([rows[i] for i in range(P) for _ in range(G)])
    assert trainer.ref_logp_error is not None and trainer.ref_logp_error < 1e-5  # same bf16 head as TRL's
    fp32_model = load_policy(MODEL)[0].eval()  # the prepared ref model runs its forward under autocast
    expected = certainty(_reference_logits(trainer, inputs, fp32_model), KIND, TC)
    difference = (inputs[CERTAINTY_KEY] - expected).abs().max()
    assert 0 < difference < 0.02  # bf16 rounding, no more


def test_example_runs_two_steps(tmp_path):
    from typer.testing import CliRunner

    from critkl.trl.example import app

    out = tmp_path / "run"
    args = ["--steps", "2", "--device", "cpu", "--output-dir", str(out), "--max-digits", "1",
            "--num-generations", "2", "--prompts-per-step", "2", "--threads", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "step 2:" in result.output
    from transformers.trainer_callback import TrainerState  # noqa: F401  (the run logged through TRL)

    assert out.is_dir()


def test_example_logs_weight_metrics(tmp_path):
    from critkl.trl.example import run

    trainer = run(steps=2, device="cpu", output_dir=tmp_path, max_digits=1, num_generations=2,
                  prompts_per_step=2, kl_weight_beta=150.0, certainty_kind="max_prob", certainty_temperature=4.0)
    logs = [r for r in trainer.state.log_history if "kl_weight/mean" in r]
    assert len(logs) == 2
    for record in logs:
        for key in ("kl_weight/mean", "kl_weight/min", "kl_weight/p10", "kl_weight/p50", "kl_weight/p90",
                    "certainty/mean", "kl", "kl_weighted", "reward"):
            assert math.isfinite(record[key]), key
        assert 0.0 <= record["kl_weight/min"] <= record["kl_weight/p50"] <= record["kl_weight/p90"] <= 1.0
        assert 0.0 <= record["certainty/mean"] <= 1.0


@pytest.mark.parametrize("field, value", [("kl_weight_beta", -1.0), ("certainty_kind", "entropy"),
                                          ("certainty_temperature", 0.0), ("kl_weight_slope", -0.5),
                                          ("kl_weight_intercept", float("nan"))])
def test_bad_config_names_the_field(tmp_path, field, value):
    with pytest.raises(ValueError, match=field):
        PrioritizedGRPOConfig(output_dir=str(tmp_path), report_to="none", **{field: value})


def test_trainer_rejects_plain_config_and_warns_without_kl(tmp_path):
    policy, tokenizer = load_policy(MODEL)
    kwargs = dict(model=policy, reward_funcs=arithmetic_reward, processing_class=tokenizer,
                  train_dataset=arithmetic_dataset(4, max_digits=1))
    with pytest.raises(TypeError, match="PrioritizedGRPOConfig"):
        PrioritizedGRPOTrainer(args=GRPOConfig(output_dir=str(tmp_path), report_to="none", use_cpu=True), **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        PrioritizedGRPOTrainer(args=PrioritizedGRPOConfig(output_dir=str(tmp_path), report_to="none", beta=0.0,
                                                          num_generations=2, per_device_train_batch_size=2,
                                                          use_cpu=True), **kwargs)
    assert any("beta=0" in str(w.message) for w in caught)


@pytest.mark.parametrize("kind, temperature, beta, collapsed", [
    ("max_prob", 4.0, 150.0, True),  # the official setting: w ≈ 0 on every token of a small model
    ("shannon", 1.0, 1.0, False),
])
def test_trainer_warns_when_the_weight_collapses(tmp_path, kind, temperature, beta, collapsed):
    from critkl.calibration import WeightCollapseWarning

    trainer = _trainer(PrioritizedGRPOTrainer, PrioritizedGRPOConfig, tmp_path, certainty_kind=kind,
                       certainty_temperature=temperature, kl_weight_beta=beta)
    rows = arithmetic_dataset(P, max_digits=2, seed=1)
    batch = [rows[i] for i in range(P) for _ in range(G)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer._generate_and_score_completions(batch)
        trainer._generate_and_score_completions(batch)  # warned once, flagged every time
    warned = [w for w in caught if issubclass(w.category, WeightCollapseWarning)]
    assert len(warned) == int(collapsed)
    assert trainer._metrics["train"]["kl_weight/collapsed"] == [float(collapsed)] * 2
    if collapsed:
        assert "median w on non-critical tokens" in str(warned[0].message) and "β=150" in str(warned[0].message)


def test_rest_of_critkl_never_imports_trl():
    code = (
        "import sys, critkl, critkl.cli, critkl.rl\n"
        "assert 'trl' not in sys.modules, 'critkl imported trl'\n"
        "sys.modules['trl'] = None\n"
        "try:\n"
        "    import critkl.trl\n"
        "except ImportError as e:\n"
        "    assert \"pip install 'critkl[trl]'\" in str(e), e\n"
        "else:\n"
        "    raise AssertionError('no ImportError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
