"""GRPO with the prioritized KL on the scratchpad-addition task (``python -m critkl.trl.example``).

The policy starts from ``tiny-n3`` (or any ``--model`` folder of a causal LM); prompts are the
task's plain-text prompts ``"Input:\\n57+8\\nTarget:"`` and the reward is 1 for a correct result line
(:func:`critkl.arithmetic.is_correct`), else 0.

The character tokenizer has no end-of-sequence token and the model never stops by itself, so the
pad character ``'%'`` is declared as EOS and completions run to ``max_completion_length`` (by
default the longest correct continuation, for two all-9 operands); the reward reads the first
result line and ignores what follows.

    python -m critkl.trl.example --steps 3 --device cpu --output-dir runs/grpo-example
    python -m critkl.trl.example --lora --learning-rate 1e-3 --steps 3 --device cpu  # LoRA adapter

With ``--lora`` the policy is the model plus a LoRA adapter (``peft.LoraConfig`` on every linear layer
but the LM head) and the reference is the same model with the adapter disabled, as TRL does under
PEFT; the certainty comes from that reference forward.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer

from ..arithmetic import all_nines, is_correct, prompt, sample_pretrain, sample_rl

if TYPE_CHECKING:  # torch, datasets and TRL load when a function runs, so that --help answers at once
    from datasets import Dataset

    from .trainer import PrioritizedGRPOTrainer

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


def arithmetic_dataset(size: int, max_digits: int = 3, extra_digits: int = 0, seed: int = 0) -> Dataset:
    """``size`` problems as a dataset with columns ``prompt`` (str), ``a``, ``b``.

    ``extra_digits = k > 0``: the paper's RL problems (:func:`critkl.arithmetic.sample_rl`, one
    operand of N+k digits); ``k = 0``: in-distribution problems of 1..N digits.

    >>> arithmetic_dataset(2, seed=0)["prompt"][0].startswith("Input:")  # doctest: +SKIP
    True
    """
    from datasets import Dataset

    rng = np.random.default_rng(seed)
    problems = [sample_rl(max_digits, extra_digits, rng) if extra_digits > 0 else sample_pretrain(max_digits, rng)
                for _ in range(size)]
    return Dataset.from_dict({"prompt": [prompt(p.a, p.b) for p in problems],
                              "a": [p.a for p in problems], "b": [p.b for p in problems]})


def arithmetic_reward(completions: list[str], a: list[int], b: list[int], **_: Any) -> list[float]:
    """TRL reward function: 1.0 when the completion's result line is ``a + b``, else 0.0.

    >>> from critkl.arithmetic import target
    >>> arithmetic_reward([target(57, 8), "nope"], a=[57, 57], b=[8, 8])
    [1.0, 0.0]
    """
    return [1.0 if is_correct(c, x, y) else 0.0 for c, x, y in zip(completions, a, b)]


def load_policy(model: str) -> tuple[Any, Any]:
    """``(model, tokenizer)``: a critkl model (``tiny-n3`` or a saved folder) or any causal LM folder."""
    from ..model import load_model, resolve
    from ..tokenizer import PAD

    folder = resolve(model)
    config = folder / "config.json"
    if config.is_file() and "critkl_max_digits" in json.loads(config.read_text()):
        policy, tokenizer = load_model(folder)
        tokenizer.eos_token = PAD  # no EOS in the vocabulary; the model never emits the pad
        policy.generation_config.eos_token_id = tokenizer.eos_token_id
        return policy.train(), tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return AutoModelForCausalLM.from_pretrained(model), tokenizer


def lora_config(rank: int = 8, alpha: float | None = None) -> Any:
    """``peft.LoraConfig`` of rank ``rank`` on every linear layer but the LM head (``alpha``: 2 · rank)."""
    try:
        from peft import LoraConfig
    except ImportError as exc:
        raise ValueError("--lora needs peft: pip install 'critkl[trl]' (or pip install peft)") from exc
    if rank < 1:
        raise ValueError(f"lora_rank must be >= 1, got {rank}")
    return LoraConfig(r=rank, lora_alpha=2 * rank if alpha is None else alpha, lora_dropout=0.0,
                      target_modules="all-linear", task_type="CAUSAL_LM")


def run(model: str = "tiny-n3", steps: int = 3, beta: float = 0.04, kl_weight_beta: float = 150.0,
        certainty_kind: str = "shannon", certainty_temperature: float = 1.0, kl_weight_slope: float = 1.0,
        kl_weight_intercept: float = 0.0, num_generations: int = 4, prompts_per_step: int = 2,
        max_digits: int = 3, extra_digits: int = 0, max_completion_length: int = 0,
        temperature: float = 1.5, learning_rate: float = 1e-5, output_dir: str | Path = "runs/critkl-grpo",
        device: str = "auto", bf16: bool = False, seed: int = 0, save: bool = False,
        lora: bool = False, lora_rank: int = 8, **config_kwargs: Any) -> PrioritizedGRPOTrainer:
    """Train and return the trainer (its ``state.log_history`` holds TRL's and the ``kl_weight/*`` metrics).

    ``lora=True``: train a LoRA adapter of rank ``lora_rank`` (:func:`lora_config`) through TRL's
    ``peft_config``; the reference is the model with the adapter disabled.
    """
    import torch

    from .config import PrioritizedGRPOConfig
    from .trainer import PrioritizedGRPOTrainer

    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: cuda requested but torch.cuda.is_available() is False")
    if max_completion_length <= 0:
        longest = all_nines(max_digits + max(extra_digits, 0))
        max_completion_length = len(longest.target)
    peft_config = lora_config(lora_rank) if lora else None
    policy, tokenizer = load_policy(model)
    args = PrioritizedGRPOConfig(
        output_dir=str(output_dir),
        beta=beta,
        kl_weight_beta=kl_weight_beta,
        kl_weight_slope=kl_weight_slope,
        kl_weight_intercept=kl_weight_intercept,
        certainty_kind=certainty_kind,
        certainty_temperature=certainty_temperature,
        num_generations=num_generations,
        per_device_train_batch_size=num_generations * prompts_per_step,
        max_completion_length=max_completion_length,
        temperature=temperature,
        learning_rate=learning_rate,
        max_steps=steps,
        logging_steps=1,
        save_strategy="steps" if save else "no",
        save_steps=max(steps, 1),
        report_to="none",
        # without CUDA, "auto" is the CPU: accelerate then joins the processes of a multi-process
        # launch with gloo (with use_cpu=False it finds no GPU backend and does not join them)
        use_cpu=device == "cpu" or (device == "auto" and not torch.cuda.is_available()),
        bf16=bf16,
        seed=seed,
        disable_dropout=True,
        dataloader_num_workers=0,
        **config_kwargs,
    )
    dataset = arithmetic_dataset(max(steps, 1) * prompts_per_step * 4, max_digits, extra_digits, seed)
    trainer = PrioritizedGRPOTrainer(model=policy, reward_funcs=arithmetic_reward, args=args,
                                     train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config)
    trainer.train()
    if save:
        trainer.save_model(str(Path(output_dir) / "final"))
    return trainer


@app.command()
def main(
    model: str = typer.Option("tiny-n3", help="Shipped critkl model name, or a local model folder."),
    steps: int = typer.Option(3, help="Optimizer steps."),
    beta: float = typer.Option(0.04, help="TRL's KL coefficient (the paper's alpha); > 0 for any KL."),
    kl_weight_beta: float = typer.Option(150.0, help="Exponent of the prioritized weight (the paper's beta)."),
    certainty: str = typer.Option("shannon", help="Reference certainty: shannon (paper Eq. 2) or max_prob."),
    certainty_temperature: float = typer.Option(1.0, help="Temperature of the certainty (official: 4)."),
    kl_weight_slope: float = typer.Option(1.0),
    kl_weight_intercept: float = typer.Option(0.0),
    num_generations: int = typer.Option(4, help="Completions per prompt (the GRPO group)."),
    prompts_per_step: int = typer.Option(2, help="Prompts per device and step."),
    max_digits: int = typer.Option(3, help="N: the model's pre-training length."),
    extra_digits: int = typer.Option(0, help="k: problems with one operand of N+k digits (0: 1..N digits)."),
    max_completion_length: int = typer.Option(0, help="Tokens per completion (0: longest correct one)."),
    temperature: float = typer.Option(1.5, help="Sampling temperature (TRL's)."),
    learning_rate: float = typer.Option(1e-5),
    output_dir: Path = typer.Option(Path("runs/critkl-grpo"), help="TRL output folder."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    bf16: bool = typer.Option(False, help="bf16 mixed precision (GPU)."),
    threads: int = typer.Option(0, help="torch CPU threads (0: torch default)."),
    seed: int = typer.Option(0),
    save: bool = typer.Option(False, help="Save the fine-tuned model (the adapter with --lora) to OUTPUT_DIR/final."),
    lora: bool = typer.Option(False, help="Train a LoRA adapter (peft); the reference is the model without it."),
    lora_rank: int = typer.Option(8, help="LoRA rank (alpha = 2 x rank), with --lora."),
) -> None:
    """GRPO with the prioritized KL on the arithmetic task; prints the logged metrics."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    try:
        trainer = run(model=model, steps=steps, beta=beta, kl_weight_beta=kl_weight_beta,
                      certainty_kind=certainty, certainty_temperature=certainty_temperature,
                      kl_weight_slope=kl_weight_slope, kl_weight_intercept=kl_weight_intercept,
                      num_generations=num_generations, prompts_per_step=prompts_per_step,
                      max_digits=max_digits, extra_digits=extra_digits,
                      max_completion_length=max_completion_length, temperature=temperature,
                      learning_rate=learning_rate, output_dir=output_dir, device=device, bf16=bf16,
                      seed=seed, save=save, lora=lora, lora_rank=lora_rank)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not trainer.accelerator.is_main_process:  # several processes: one report, from rank 0
        return
    if lora:
        params = list(trainer.model.parameters())
        trained = sum(p.numel() for p in params if p.requires_grad)
        typer.echo(f"LoRA rank {lora_rank}: {trained:,} trained parameters of {sum(p.numel() for p in params):,}")
    keys = ("reward", "kl", "kl_weighted", "kl_weight/mean", "kl_weight/p50", "certainty/mean", "step_time")
    for record in trainer.state.log_history:
        if "step" in record and "reward" in record:
            typer.echo(f"step {record['step']}: " + ", ".join(
                f"{k}={record[k]:.4g}" for k in keys if isinstance(record.get(k), (int, float))))


if __name__ == "__main__":
    app()
