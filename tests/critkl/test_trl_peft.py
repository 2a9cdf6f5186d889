"""critkl.trl with PEFT (LoRA): the reference is the policy with its adapter disabled (skipped without trl/peft).

Tiny random Llama, Qwen2, Qwen3-MoE and Mixtral models are built here from configs (no download) on the
character tokenizer of ``tiny-n3``; completions are fixed through TRL's ``rollout_func``, so that TRL's
``GRPOTrainer`` and ``PrioritizedGRPOTrainer`` score the same tokens.
"""

import functools
import warnings

import pytest
import torch

pytest.importorskip("trl")
pytest.importorskip("peft")

from peft import LoraConfig, get_peft_model  # noqa: E402
from tests.critkl.test_trl import ALPHA, COMMON, MODEL, G, P, one_thread  # noqa: E402, F401  (module fixture)
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MixtralConfig,
    MixtralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3MoeConfig,
    Qwen3MoeForCausalLM,
)
from trl import GRPOConfig, GRPOTrainer  # noqa: E402
from trl.trainer.utils import use_adapter  # noqa: E402

from critkl.calibration import WeightCollapseWarning  # noqa: E402
from critkl.kl import CERTAINTY_KINDS, certainty  # noqa: E402
from critkl.trl import CERTAINTY_KEY, PrioritizedGRPOConfig, PrioritizedGRPOTrainer  # noqa: E402
from critkl.trl.example import arithmetic_dataset, load_policy  # noqa: E402
from critkl.trl.trainer import _ReferenceWithCertainty  # noqa: E402

COMPLETION = 16  # longest completion; they are 12..16 tokens, so some are padded
LORA = dict(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
WEIGHT_KEYS = ("kl_weight/mean", "kl_weight/min", "kl_weight/p10", "kl_weight/p50", "kl_weight/p90",
               "certainty/mean", "kl_weight/collapsed", "kl", "kl_weighted")
FAMILIES = {
    "llama": (LlamaConfig, LlamaForCausalLM, {}),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM, {}),
    "qwen3_moe": (Qwen3MoeConfig, Qwen3MoeForCausalLM,
                  dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, output_router_logits=True,
                       router_aux_loss_coef=0.01)),
    "mixtral": (MixtralConfig, MixtralForCausalLM,
                dict(num_local_experts=4, num_experts_per_tok=2, output_router_logits=True, router_aux_loss_coef=0.01)),
}


@functools.lru_cache(maxsize=1)
def _tokenizer():
    return load_policy(MODEL)[1]  # character tokenizer, '%' as EOS


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A saved tiny random model per family (TRL loads the reference of a full fine-tuning from the folder)."""
    tok, root, out = _tokenizer(), tmp_path_factory.mktemp("tiny-models"), {}
    for name, (config_cls, model_cls, extra) in FAMILIES.items():
        config = config_cls(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None,
                            tie_word_embeddings=False, **extra)
        torch.manual_seed(0)
        model_cls(config).save_pretrained(root / name)
        out[name] = str(root / name)
    return out


def rollout(prompts: list[str], trainer) -> dict:
    """Fixed completions of 12..16 digit tokens, the same for the i-th prompt of every call and every trainer."""
    tok = trainer.processing_class
    digits = tok("0123456789+=", add_special_tokens=False)["input_ids"]
    completions = []
    for i in range(len(prompts)):
        gen = torch.Generator().manual_seed(1000 + i)
        completions.append([digits[j] for j in torch.randint(len(digits), (COMPLETION - i % 5,), generator=gen)])
    return {"prompt_ids": [tok(p, add_special_tokens=False)["input_ids"] for p in prompts],
            "completion_ids": completions, "logprobs": None}


def odd_digit_reward(completions: list[str], **_) -> list[float]:
    """Fraction of odd digits: rewards that differ within a group, so GRPO's advantages are not all 0."""
    return [sum(ch in "13579" for ch in c) / max(len(c), 1) for c in completions]


def _make(cls, config_cls, tmp, model, peft=True, **extra):
    args = config_cls(output_dir=str(tmp), **{**COMMON, "max_completion_length": COMPLETION, **extra})
    trainer = cls(model=model, reward_funcs=odd_digit_reward, args=args, processing_class=_tokenizer(),
                  train_dataset=arithmetic_dataset(16, max_digits=1, seed=0), rollout_func=rollout,
                  peft_config=LoraConfig(**LORA) if peft else None)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer's training loop, which is not run here
    return trainer


def _perturb_adapter(model, seed=1, scale=0.3):
    """Move the LoRA weights (B starts at 0, so the adapter starts as the identity), the same way each time."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name and ".default." in name:
                p.add_(scale * torch.randn(p.shape, generator=gen))


def _batch():
    rows = arithmetic_dataset(P, max_digits=1, seed=1)
    return [rows[i] for i in range(P) for _ in range(G)]


def _certainty_of(model, inputs, kind="shannon", temperature=1.0):
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    k = inputs["completion_ids"].size(1)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[:, -(k + 1):-1].float()
    return certainty(logits, kind, temperature)


@pytest.mark.parametrize("family, checkpointing", [("llama", False), ("qwen2", True)])
def test_weight_one_equals_trl_loss_with_lora(tmp_path, folders, family, checkpointing):
    """w ≡ 1 with LoRA: the reference pass, the loss and the LoRA gradients are TRL's own."""
    prio = _make(PrioritizedGRPOTrainer, PrioritizedGRPOConfig, tmp_path / "p", folders[family],
                 gradient_checkpointing=checkpointing, kl_weight_slope=0.0, kl_weight_intercept=1.0)
    theirs = _make(GRPOTrainer, GRPOConfig, tmp_path / "t", folders[family], gradient_checkpointing=checkpointing)
    assert prio.ref_model is None and theirs.ref_model is None  # the reference is the adapter-free policy
    for trainer in (prio, theirs):
        _perturb_adapter(trainer.model)
    ours_in, their_in = prio._generate_and_score_completions(_batch()), theirs._generate_and_score_completions(_batch())
    assert torch.equal(ours_in["completion_ids"], their_in["completion_ids"])
    assert (ours_in["completion_mask"] == 0).any()  # padded completions are in the batch
    assert torch.equal(ours_in["ref_per_token_logps"], their_in["ref_per_token_logps"])
    gen = torch.Generator().manual_seed(2)
    advantages = torch.randn(ours_in["advantages"].shape, generator=gen)
    ours_in["advantages"], their_in["advantages"] = advantages, advantages.clone()

    ours, loss = prio.compute_loss(prio.model, ours_in), theirs.compute_loss(theirs.model, their_in)
    assert prio.beta == ALPHA
    assert abs(ours.item() - loss.item()) <= 1e-6
    assert prio._metrics["train"]["kl"][-1] > 1e-4  # the adapter moved the policy: the KL term is there
    assert prio._metrics["train"]["kl_weighted"][-1] == pytest.approx(prio._metrics["train"]["kl"][-1], rel=1e-6)
    ours.backward()
    loss.backward()
    grads = [(p.grad, q.grad) for (n, p), (_, q) in zip(prio.model.named_parameters(), theirs.model.named_parameters())
             if p.requires_grad]
    assert grads and all(a is not None and torch.allclose(a, b, rtol=1e-5, atol=1e-8) for a, b in grads)

    # the certainty is that of the base model (adapter disabled), from the reference pass's own forward
    with prio.model.disable_adapter():
        expected = _certainty_of(prio.model, ours_in)
    assert torch.allclose(ours_in[CERTAINTY_KEY], expected, atol=1e-5)
    assert prio.ref_logp_error is not None and prio.ref_logp_error < 1e-5
    assert (ours_in[CERTAINTY_KEY] - _certainty_of(prio.model, ours_in)).abs().max() > 1e-4  # not the policy's


def test_default_weight_trains_and_logs_as_without_peft(tmp_path, folders):
    """Default weight, gradient checkpointing: LoRA trains, and logs the weight as a full fine-tuning does."""
    kwargs = dict(max_steps=2, logging_steps=1, learning_rate=1e-2, gradient_checkpointing=True)
    runs = {}
    for name, peft in (("lora", True), ("full", False)):
        trainer = _make(PrioritizedGRPOTrainer, PrioritizedGRPOConfig, tmp_path / name, folders["llama"], peft, **kwargs)
        before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.train()
        logs = [r for r in trainer.state.log_history if "kl_weight/mean" in r]
        collapse = [w for w in caught if issubclass(w.category, WeightCollapseWarning)]
        runs[name] = trainer, before, logs, collapse
    trainer, before, logs, collapse = runs["lora"]
    assert len(logs) == 2 and all(key in record for record in logs for key in WEIGHT_KEYS)
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)  # the adapter trained, the base model did not
    # a random model is unsure everywhere: the default β=150 collapses the weight, and says so once
    assert len(collapse) == 1 and logs[0]["kl_weight/collapsed"] == 1.0
    # first step: both references are the same base model on the same completions, so the same weight
    _, _, full_logs, full_collapse = runs["full"]
    assert len(full_collapse) == 1 and set(full_logs[0]) >= set(WEIGHT_KEYS)
    for key in WEIGHT_KEYS[:7]:
        assert logs[0][key] == pytest.approx(full_logs[0][key], rel=1e-5, abs=1e-9), key


def test_lora_under_bf16_autocast(tmp_path, folders):
    """TRL's bf16 autocast with LoRA: the certainty's logits follow TRL's head, within bf16 rounding."""
    trainer = _make(PrioritizedGRPOTrainer, PrioritizedGRPOConfig, tmp_path, folders["qwen2"], bf16=True)
    _perturb_adapter(trainer.model)
    inputs = trainer._generate_and_score_completions(_batch())
    assert trainer.ref_logp_error is not None and trainer.ref_logp_error < 1e-5  # same bf16 head as TRL's
    with trainer.model.disable_adapter():
        expected = _certainty_of(trainer.model, inputs)  # float32, outside autocast
    assert (inputs[CERTAINTY_KEY] - expected).abs().max() < 0.02
    assert trainer.compute_loss(trainer.model, inputs).isfinite()


def test_prompt_tuning_takes_the_certainty_from_the_base_model(tmp_path, folders):
    """A prompt-learning adapter (virtual tokens before the prompt): the reference is the base model's forward."""
    from peft import PromptTuningConfig

    args = PrioritizedGRPOConfig(output_dir=str(tmp_path), **{**COMMON, "max_completion_length": COMPLETION},
                                 kl_weight_beta=1.0)
    trainer = PrioritizedGRPOTrainer(model=folders["llama"], reward_funcs=odd_digit_reward, args=args,
                                     processing_class=_tokenizer(), train_dataset=arithmetic_dataset(16, max_digits=1),
                                     rollout_func=rollout,
                                     peft_config=PromptTuningConfig(num_virtual_tokens=4, task_type="CAUSAL_LM"))
    trainer.model.train()
    inputs = trainer._generate_and_score_completions(_batch())
    with trainer.model.disable_adapter():
        expected = _certainty_of(trainer.model, inputs)
    policy = _certainty_of(trainer.model, inputs)  # with the virtual tokens
    assert (inputs[CERTAINTY_KEY] - expected).abs().max() < 1e-6 < 1e-5 < (inputs[CERTAINTY_KEY] - policy).abs().max()
    assert trainer.ref_logp_error is not None and trainer.ref_logp_error < 1e-5


@pytest.mark.parametrize("family, on_experts", [("qwen3_moe", False), ("mixtral", True)])
def test_moe_with_lora_runs_one_step(tmp_path, folders, family, on_experts):
    """A MoE model with LoRA on the attention (``peft_config``), or on the experts' weights through
    ``target_parameters`` (a ``PeftModel``, as in TRL's own MoE test): one step trains the adapter only."""
    model = folders[family]
    if on_experts:
        lora = LoraConfig(r=4, lora_alpha=8, target_parameters=["mlp.experts.gate_up_proj", "mlp.experts.down_proj"],
                          task_type="CAUSAL_LM")
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(model), lora)
        _perturb_adapter(model, seed=3)
    trainer = _make(PrioritizedGRPOTrainer, PrioritizedGRPOConfig, tmp_path, model, peft=not on_experts,
                    logging_steps=1, kl_weight_beta=1.0, learning_rate=1e-2, gradient_checkpointing=True)
    assert trainer.aux_loss_enabled  # TRL adds the router's load-balancing loss
    _perturb_adapter(trainer.model)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightCollapseWarning)
        trainer.train()
    record = next(r for r in trainer.state.log_history if "kl_weight/mean" in r)
    assert all(key in record for key in (*WEIGHT_KEYS, "aux_loss"))
    assert record["kl"] > 0 and 0 < record["kl_weighted"] < record["kl"]
    assert trainer.ref_logp_error is not None and trainer.ref_logp_error < 1e-5
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n and ".default." in n for n in changed)


def test_peft_model_reference_is_its_frozen_copy(tmp_path, folders):
    """A PeftModel passed in: TRL freezes a copy of its adapter as "ref"; the certainty is that copy's."""
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(folders["llama"]), LoraConfig(**LORA))
    _perturb_adapter(model, seed=3)  # a pretrained adapter: not the base model
    trainer = _make(PrioritizedGRPOTrainer, PrioritizedGRPOConfig, tmp_path, model, peft=False)
    assert "ref" in trainer.model.peft_config
    _perturb_adapter(trainer.model, seed=4)  # training moved the adapter away from its copy
    inputs = trainer._generate_and_score_completions(_batch())
    with use_adapter(trainer.model, "ref"):
        expected = _certainty_of(trainer.model, inputs)
    with trainer.model.disable_adapter():
        base = _certainty_of(trainer.model, inputs)
    assert torch.allclose(inputs[CERTAINTY_KEY], expected, atol=1e-5)
    assert (inputs[CERTAINTY_KEY] - base).abs().max() > 1e-4
    assert trainer.ref_logp_error is not None and trainer.ref_logp_error < 1e-5


@pytest.mark.parametrize("kind", CERTAINTY_KINDS)
@pytest.mark.parametrize("temperature, scale, softcap", [(1.0, 1.0, None), (0.25, 0.5, 3.0), (4.0, 2.0, None),
                                                         (0.1, 50.0, None)])  # last: logits in the thousands
def test_tiled_certainty_matches_full_rows(folders, kind, temperature, scale, softcap):
    """The certainty folded over (5 tokens x 7 entries) tiles equals critkl.kl.certainty on full logit rows."""
    model = AutoModelForCausalLM.from_pretrained(folders["llama"])
    ref = _ReferenceWithCertainty(model, 8, 1.5, kind, temperature, tile_tokens=5, tile_vocab=7)
    ref.scale, ref.softcap = scale, softcap
    gen = torch.Generator().manual_seed(0)
    hidden = 3 * torch.randn(23, model.config.hidden_size, generator=gen)
    targets = torch.randint(model.config.vocab_size, (23,), generator=gen)
    z = hidden @ model.get_output_embeddings().weight.detach().t() * scale
    if softcap is not None:
        z = torch.tanh(z / softcap) * softcap
    with torch.no_grad():
        got, logp = ref.certainty_and_logp(hidden, targets)
    assert torch.allclose(got, certainty(z, kind, temperature), atol=2e-6)
    expected_logp = torch.log_softmax(z / 1.5, -1).gather(-1, targets[:, None]).squeeze(-1)
    assert torch.allclose(logp, expected_logp, atol=2e-6)


def test_example_runs_with_lora(tmp_path):
    """``python -m critkl.trl.example --lora``: the adapter trains and each step line shows the weight."""
    from typer.testing import CliRunner

    from critkl.trl.example import app

    args = ["--lora", "--lora-rank", "4", "--learning-rate", "1e-3", "--steps", "2", "--device", "cpu",
            "--output-dir", str(tmp_path / "run"), "--max-digits", "1", "--num-generations", "2",
            "--prompts-per-step", "2", "--threads", "1", "--save"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "LoRA rank 4:" in result.output
    steps = [line for line in result.output.splitlines() if line.startswith("step ")]
    assert len(steps) == 2 and all("kl_weight/mean=" in s and "kl_weight/p50=" in s for s in steps)
    assert (tmp_path / "run" / "final" / "adapter_config.json").is_file()  # the adapter is what is saved


def test_example_lora_rank_is_checked():
    from critkl.trl.example import lora_config

    with pytest.raises(ValueError, match="lora_rank"):
        lora_config(0)


def test_tiled_certainty_allocates_no_more_than_a_tile(folders):
    """No buffer of the certainty pass is larger than one (tokens x vocabulary) tile of TRL's log-prob pass."""
    from torch.profiler import ProfilerActivity, profile

    model = AutoModelForCausalLM.from_pretrained(folders["llama"])
    ref = _ReferenceWithCertainty(model, 8, 1.5, "shannon", 1.0, tile_tokens=8, tile_vocab=48)
    hidden, targets = torch.randn(40, model.config.hidden_size), torch.randint(model.config.vocab_size, (40,))
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        ref.certainty_and_logp(hidden, targets)
    largest = max(event.self_cpu_memory_usage for event in prof.events())
    tile, rows = 8 * 48 * 4, 40 * model.config.vocab_size * 4  # float32 bytes: one tile, the full (40, |V|) logits
    assert 0 < largest <= tile and 2 * tile < rows
