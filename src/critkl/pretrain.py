"""Supervised next-token pre-training on scratchpad additions of 1..N digits, with exact resume.

Loss: cross-entropy on the continuation tokens only (the scratchpad and the answer,
stop newline included); the prompt and padding get label -100. The prompt is random
digits the model cannot predict, so training on it only adds noise (the paper does not
say which tokens get loss).

Data: the batch of step ``i`` is drawn from ``numpy.random.default_rng([seed, i])``,
so a resumed run sees exactly the batches an uninterrupted run would. Dropout is 0 by
default, which makes a resumed run bit-identical on CPU (tested).

Optimiser: AdamW (β = 0.9, 0.99 as Lee et al.), linear warmup then cosine decay to
``min_lr_ratio · lr``; gradient clipping at 1.0; bf16 autocast on CUDA.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .configbase import Config, check_resume, setting
from .finite import check_finite, check_finite_weights
from .reading import first_line, read_json, read_state
from .run_folder import TMP_PREFIX, ScalarWriter, claim, trim_log, write_text_atomic

if TYPE_CHECKING:
    import torch

# torch, numpy and transformers are imported inside the functions: the command line reads
# PretrainConfig to build ``critkl pretrain --help`` and must stay fast.

CHECKPOINT_DIR = "checkpoint"
TRAINER_STATE = "trainer_state.pt"
PAD_ID = 6  # the id of "%" (critkl.tokenizer; checked in tests)
# Fields a resumed run may change: where it runs and what it logs, none of which changes the weights.
# Any other difference from the checkpoint's config stops the resume; ``steps`` among them, since the
# cosine schedule is laid over the whole run (to train further, start a new run with --base-model).
RESUME_MAY_DIFFER = ("out_dir", "device", "threads", "log_every", "eval_every", "eval_size", "eval_heldout",
                     "checkpoint_every", "tensorboard")


@dataclass
class PretrainConfig(Config):
    """Everything ``pretrain`` reads. Defaults train ``tiny`` on N=3 on a CPU.

    Every field is a ``critkl pretrain`` option (``--field-name``, help from its metadata; ``extra``
    only through ``--config``/``--set``); the values are checked on construction.
    """

    max_digits: int = setting(3, "N: train on operands of 1..N digits.", short="-n")
    size: str = setting("tiny", "Model size: tiny, small or paper.")
    out_dir: str = setting("runs/pretrain", "Run folder (config.json, log.jsonl, checkpoint/, final/).",
                           option="--out", aliases=("--out-dir",))
    steps: int = setting(3000, "Optimizer steps.")
    batch_size: int = setting(64, "Problems per step.")
    lr: float = setting(3e-3, "Peak learning rate.")
    min_lr_ratio: float = setting(0.05, "Final lr as a fraction of the peak (cosine).")
    warmup_steps: int = setting(100, "Linear warmup steps.")
    weight_decay: float = setting(0.1, "AdamW weight decay (matrices only).")
    betas: tuple[float, float] = setting((0.9, 0.99), "AdamW betas.")
    grad_clip: float = setting(1.0, "Gradient clipping norm.")
    dropout: float = setting(0.0, "Dropout of the new model (0 keeps a resumed run bit-identical on CPU).")
    seed: int = setting(0, "Seed of the initialisation and of the data stream.")
    log_every: int = setting(25, "Log the loss every k steps.")
    eval_every: int = setting(500, "Greedy in-distribution accuracy every k steps.")
    eval_size: int = setting(64, "Problems of each in-distribution evaluation.")
    checkpoint_every: int = setting(250, "Checkpoint every k steps.")
    device: str = setting("auto", "auto, cpu or cuda.")
    threads: int | None = setting(None, "torch CPU threads (unset or 0: torch's default).")
    init_from: str | None = setting(None, "Start from this model's weights (a model folder or shipped "
                                    "name; a new run: fresh optimizer and schedule).",
                                    option="--base-model", aliases=("--init-from",))
    position_jitter: bool = setting(False, "Shift each row's position ids by a random offset so every "
                                    "position embedding is trained.")
    position_embeddings: bool = setting(True, "--no-position-embeddings trains a NoPE model (zero, frozen "
                                        "position table).")
    eval_heldout: bool = setting(False, "At each eval also log greedy accuracy and gold log-prob on "
                                 "N+1-digit problems.")
    tensorboard: bool = setting(False, "Also write the logged scalars to OUT/tensorboard/ (needs "
                                "critkl[tensorboard]).")
    extra: dict = setting(factory=dict, help="Free-form notes kept with the config.", cli=False)

    def validate(self) -> None:
        if self.max_digits < 1:
            raise ValueError(f"max_digits must be an int >= 1, got {self.max_digits!r}")
        for name in ("steps", "batch_size", "log_every", "eval_every", "eval_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        for name in ("warmup_steps", "weight_decay", "grad_clip", "min_lr_ratio"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.threads is not None and self.threads < 0:
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if self.size not in ("tiny", "small", "paper"):  # critkl.model.SIZES
            raise ValueError(f"size must be one of ['paper', 'small', 'tiny'], got {self.size!r}")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must both be in [0, 1), got {list(self.betas)}")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", self.device):
            raise ValueError(f"device must be auto, cpu, cuda, cuda:K or mps, got {self.device!r}")


def make_batch(max_digits: int, batch_size: int, seed: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, labels)`` of one step: right-padded with ``'%'``; labels -100 off the continuation.

    >>> ids, labels = make_batch(3, 4, seed=0, step=0)
    >>> ids.shape == labels.shape, bool((labels[ids == 6] == -100).all())
    (True, True)
    """
    import numpy as np
    import torch

    from .arithmetic import sample_pretrain
    from .tokenizer import encode

    rng = np.random.default_rng([seed, step])
    rows, label_rows = [], []
    for _ in range(batch_size):
        p = sample_pretrain(max_digits, rng)
        prompt_ids, cont_ids = encode(p.prompt), encode(p.target)
        rows.append(prompt_ids + cont_ids)
        label_rows.append([-100] * len(prompt_ids) + cont_ids)
    width = max(len(r) for r in rows)
    ids = torch.full((batch_size, width), PAD_ID, dtype=torch.long)
    labels = torch.full((batch_size, width), -100, dtype=torch.long)
    for i, (r, lr) in enumerate(zip(rows, label_rows, strict=True)):
        ids[i, : len(r)] = torch.tensor(r)
        labels[i, : len(lr)] = torch.tensor(lr)
    return ids, labels


def position_offsets(batch_size: int, width: int, n_positions: int, seed: int, step: int) -> torch.Tensor:
    """Random position ids for a batch: row ``r`` uses ``offset_r + arange(width)``, offset uniform in
    ``[0, n_positions - width]`` (randomized positional encodings, Ruoss et al. 2023).

    Pre-training on N digits only ever trains the first ~``len(episode(N))`` learned position
    embeddings; an N+1-digit episode then reaches positions the model never saw. Shifting each
    row by a random offset trains them all and pushes the model towards content/relative
    addressing. The offsets come from their own generator so the data stream is unchanged.

    >>> position_offsets(2, 5, 8, seed=0, step=0).shape
    torch.Size([2, 5])
    """
    import numpy as np
    import torch

    rng = np.random.default_rng([seed, step, 7])
    high = max(0, n_positions - width)
    offsets = torch.as_tensor(rng.integers(0, high + 1, size=batch_size), dtype=torch.long)
    return offsets[:, None] + torch.arange(width)[None, :]


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine decay to ``min_ratio`` at ``total``.

    >>> lr_factor(0, 10, 100, 0.1), lr_factor(10, 10, 100, 0.1), round(lr_factor(100, 10, 100, 0.1), 6)
    (0.1, 1.0, 0.1)
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _device(name: str) -> torch.device:
    """The torch device of ``--device``; a device this machine lacks is refused before any work."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: this machine has no CUDA GPU that torch can use "
                             "(torch.cuda.is_available() is False); use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name}: MPS is not available on this machine; use --device cpu or auto")
    return device


def step_memory(config: PretrainConfig) -> int:
    """A rough upper estimate of the bytes one training step needs: per layer, the activations kept for
    the backward pass (about 16 numbers per position and width unit) and the attention scores of the
    longest row (``n_head`` · width²), in float32, for the whole batch.

    >>> step_memory(PretrainConfig(max_digits=3)) < 2**30
    True
    """
    from .arithmetic import episode_length
    from .model import SIZES

    n_layer, n_head, n_embd = SIZES[config.size]
    width = episode_length(config.max_digits)
    return 4 * config.batch_size * n_layer * width * (16 * n_embd + n_head * width)


def check_memory(config: PretrainConfig, device: torch.device) -> None:
    """Refuse settings whose training step cannot fit the device's memory, before anything is allocated."""
    import os

    import torch

    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device.index or 0).total_memory
        where = "this GPU"
    else:
        try:
            total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return
        where = "this machine"
    need = step_memory(config)
    if need > 0.8 * total:
        from .arithmetic import episode_length
        from .model import context_length

        raise ValueError(f"--max-digits {config.max_digits} with --batch-size {config.batch_size} and --size "
                         f"{config.size}: a training step needs about {need / 2**30:,.0f} GiB (rows of up to "
                         f"{episode_length(config.max_digits):,} tokens, a {context_length(config.max_digits):,}"
                         f"-position context), more than the {total / 2**30:,.0f} GiB of {where}: lower "
                         "--max-digits or --batch-size")


def recover_checkpoint(folder: Path) -> Path | None:
    """Put ``folder`` (``OUT/checkpoint``) back in order after an interrupted save; return it if present.

    A save writes a uniquely named ``.tmp-checkpoint.*/`` folder, moves the previous checkpoint to
    ``checkpoint.old/``, renames the new one into place, then deletes the old one. A temporary folder
    (or the ``checkpoint.tmp/`` of earlier versions) is an unfinished write and is removed; a ``.old``
    folder without ``checkpoint/`` is the last complete checkpoint and is put back.
    """
    folder = Path(folder)
    tmp, old = folder.with_name(folder.name + ".tmp"), folder.with_name(folder.name + ".old")
    for leftover in folder.parent.glob(f"{TMP_PREFIX}{folder.name}.*"):  # an unfinished write
        shutil.rmtree(leftover, ignore_errors=True)
    if old.is_dir():
        if folder.is_dir():
            shutil.rmtree(old)
        else:
            old.rename(folder)
    if tmp.exists():
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    return folder if folder.is_dir() else None


def _checkpoint(folder: Path, model, tokenizer, optimizer, scheduler, step: int, config: PretrainConfig) -> None:
    import torch

    from .model import save_model

    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{folder.name}.", dir=folder.parent))
    try:
        save_model(model, tokenizer, tmp, training_config=asdict(config))
        torch.save(
            {
                "step": step,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
            },
            tmp / TRAINER_STATE,
        )
        tmp.chmod(0o777 & ~_umask())
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, Exception):  # a full disk, a file-size limit (safetensors and torch raise their own types)
            raise OSError(f"cannot write the checkpoint of step {step} in {folder.parent} "
                          f"({first_line(e)}); the previous checkpoint {folder} is kept") from None
        raise
    if folder.exists():
        old = folder.with_name(folder.name + ".old")
        folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old)
    else:
        tmp.rename(folder)


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def in_distribution_accuracy(model, max_digits: int, size: int, seed: int = 12345) -> float:
    """Greedy exact match on ``size`` fresh pre-training-distribution problems."""
    import numpy as np

    from .arithmetic import is_correct, sample_pretrain
    from .generation import generate

    rng = np.random.default_rng([seed, 999])
    problems = [sample_pretrain(max_digits, rng) for _ in range(size)]
    texts = generate(model, problems, temperature=0.0, batch_size=size)
    return float(np.mean([is_correct(t, p.a, p.b) for t, p in zip(texts, problems, strict=True)]))


def heldout_metrics(model, max_digits: int, size: int, seed: int = 54321) -> dict[str, float]:
    """Greedy exact match and the mean gold log-probability (teacher forced, summed over the
    continuation) on ``size`` RL-distribution problems of ``max_digits + 1`` digits: how close
    the model is to solving the next length, in a form that moves before accuracy does."""
    import numpy as np
    import torch

    from .arithmetic import is_correct, sample_rl
    from .generation import generate

    rng = np.random.default_rng([seed, 998])
    problems = [sample_rl(max_digits, 1, rng) for _ in range(size)]
    texts = generate(model, problems, temperature=0.0, batch_size=size)
    acc = float(np.mean([is_correct(t, p.a, p.b) for t, p in zip(texts, problems, strict=True)]))
    from .rollout import gold_episodes, sequence_logprobs

    gold = gold_episodes(problems)
    device = next(model.parameters()).device
    with torch.no_grad():
        gold.ids, gold.attention_mask = gold.ids.to(device), gold.attention_mask.to(device)
        gold.action_mask = gold.action_mask.to(device)
        logps = sequence_logprobs(model, gold).sum(-1).tolist()
    return {"acc_heldout": acc, "logp_heldout": float(np.mean(logps))}


def rough_seconds(config: PretrainConfig, n_params: int, threads: int = 0) -> float:
    """A rough CPU time per optimizer step: the batch's scratchpad tokens × parameters at ~1.5e9
    parameter·tokens per second per thread (``tiny`` on 1..3 digits: ~2,300 tokens/s on 2 busy cores)."""
    import torch

    _, labels = make_batch(config.max_digits, config.batch_size, config.seed, 0)
    return int((labels != -100).sum()) * n_params / (1.5e9 * (threads or torch.get_num_threads()))


def pretrain(config: PretrainConfig, resume: bool = True, progress: bool = True,
             until: int | None = None) -> Path:
    """Train, checkpointing to ``out_dir/checkpoint``; the final model goes to ``out_dir/final``.

    With ``resume=True`` and a checkpoint present, training continues exactly where it
    stopped; a checkpoint written with other settings (a field outside ``RESUME_MAY_DIFFER``)
    is refused with a ``ValueError`` that lists them, and a damaged one with an error naming
    its file, before anything in the run folder changes. ``until`` stops (after checkpointing)
    at that step, as an interruption would; the call then returns the checkpoint folder. A
    loss, gradient norm or weight that turns NaN or infinite raises
    :class:`critkl.finite.NonFiniteError` before it is saved. Returns the final model folder.

    The run folder is held for the whole run (:func:`critkl.run_folder.claim`): a folder in use by another
    run, or made by another command, is refused. A device this machine lacks and a ``max_digits`` whose
    training step cannot fit in memory are refused before any work.

    >>> pretrain(PretrainConfig(max_digits=3, steps=3000, out_dir="runs/n3"))  # doctest: +SKIP
    """
    device = _device(config.device)
    check_memory(config, device)
    with claim(config.out_dir, "critkl pretrain") as run:
        return _pretrain(config, resume, progress, until, device, run)


def _pretrain(config: PretrainConfig, resume: bool, progress: bool, until: int | None, device, run) -> Path:
    import torch

    from .model import build_model, load_model, save_model
    from .tokenizer import CharTokenizer

    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(config.out_dir)
    ckpt = out / CHECKPOINT_DIR
    tokenizer = CharTokenizer()
    start = 0
    # everything is read and checked before anything is written: a refused resume leaves the run as it was
    if resume and recover_checkpoint(ckpt) is not None:
        check_resume(ckpt, _read_training_config(ckpt), config, RESUME_MAY_DIFFER)
        model, tokenizer = load_model(ckpt)
        state = _read_trainer_state(ckpt / TRAINER_STATE)
        start = state["step"]
        if start > config.steps:
            raise ValueError(f"checkpoint {ckpt} is at step {start}, beyond steps={config.steps}")
    elif config.init_from:
        model, _ = load_model(config.init_from)
        if getattr(model.config, "critkl_max_digits", None) != config.max_digits:
            raise ValueError(
                f"init_from {config.init_from}: model was built for max_digits="
                f"{getattr(model.config, 'critkl_max_digits', None)}, not {config.max_digits}"
            )
        state = None
    else:
        model = build_model(config.size, config.max_digits, config.dropout, config.seed,
                            position_embeddings=config.position_embeddings)
        state = None
    model.to(device).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=tuple(config.betas),
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, config.warmup_steps, config.steps, config.min_lr_ratio)
    )
    if state is not None:
        try:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
        except Exception as e:  # a damaged state fails in many ways: missing keys, wrong types, shapes
            raise ValueError(f"{ckpt / TRAINER_STATE}: does not fit the model in {ckpt} "
                             f"({type(e).__name__}: {first_line(e)})") from None
    if not resume:
        recover_checkpoint(ckpt)  # a fresh run starts without the leftovers of an interrupted save
    out.mkdir(parents=True, exist_ok=True)
    run.record(new=state is None)
    write_text_atomic(out / "config.json", config.to_json() + "\n")
    log_path = out / "log.jsonl"
    trim_log(log_path, "step", start)  # the steps after the checkpoint (all, for a fresh run) are logged again
    use_bf16 = device.type == "cuda"
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    writer = ScalarWriter(out) if config.tensorboard else None

    from .progress import Progress, duration

    stop = config.steps if until is None else min(until, config.steps)
    if progress:
        n_params = sum(p.numel() for p in model.parameters())
        where = (f"on {device}" if device.type != "cpu" else
                 f"about {duration(rough_seconds(config, n_params) * (stop - start))} on {torch.get_num_threads()} "
                 "CPU thread(s) (a rough guess; the progress lines give an ETA)")
        print(f"pre-training a {config.size} GPT-2 ({n_params:,} parameters) on 1..{config.max_digits}-digit "
              f"scratchpads: steps {start + 1}..{stop} of {config.steps}, batch {config.batch_size}, "
              f"in-distribution evaluation every {config.eval_every} steps; {where}", flush=True)
    bar = Progress(f"pretrain N={config.max_digits}", config.steps, unit="steps", done=start, enabled=progress)
    try:
        _train_steps(config, model, tokenizer, optimizer, scheduler, device, use_bf16, start, stop, ckpt,
                     log_path, writer, bar)
    finally:
        if writer is not None:
            writer.close()
    if stop < config.steps:
        return ckpt
    final = out / "final"
    model.eval()
    check_finite_weights(model, f"step {stop}")
    try:
        save_model(model.to("cpu"), tokenizer, final, training_config=asdict(config))
    except Exception as e:  # a full disk, a file-size limit
        raise OSError(f"cannot write the final model {final} ({first_line(e)}); the "
                      f"checkpoint {ckpt} of step {stop} is whole: --resume writes it again") from None
    return final


def _train_steps(config: PretrainConfig, model, tokenizer, optimizer, scheduler, device, use_bf16: bool,
                 start: int, stop: int, ckpt: Path, log_path: Path, writer, bar) -> None:
    import torch

    t_last, tokens, loss_sum, loss_n = time.time(), 0, 0.0, 0
    with bar, log_path.open("a") as log:
        for step in range(start, stop):
            ids, labels = make_batch(config.max_digits, config.batch_size, config.seed, step)
            ids, labels = ids.to(device), labels.to(device)
            positions = None
            if config.position_jitter:
                positions = position_offsets(
                    ids.shape[0], ids.shape[1], model.config.n_positions, config.seed, step
                ).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                loss = model(input_ids=ids, labels=labels, position_ids=positions).loss
            done = step + 1
            loss_value = check_finite(loss.detach(), "the training loss", f"step {done}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = check_finite(torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip),
                                     "the gradient norm", f"step {done}")
            optimizer.step()
            scheduler.step()
            tokens += int((labels != -100).sum())
            loss_sum, loss_n = loss_sum + loss_value, loss_n + 1
            record = info = None
            if done % config.log_every == 0 or done == config.steps:
                now = time.time()
                record = {
                    "step": done,
                    "loss": loss_sum / loss_n,
                    "lr": scheduler.get_last_lr()[0],
                    "grad_norm": grad_norm,
                    "tokens_per_s": tokens / max(now - t_last, 1e-9),
                    "time": now,
                }
                t_last, tokens, loss_sum, loss_n = now, 0, 0.0, 0
            if done % config.eval_every == 0 or done == config.steps:
                model.eval()
                acc = in_distribution_accuracy(model, config.max_digits, config.eval_size)
                extra = heldout_metrics(model, config.max_digits, config.eval_size) if config.eval_heldout else {}
                model.train()
                record = (record or {"step": done, "time": time.time()}) | {"acc_in_dist": acc} | extra
            if record is not None:
                log.write(json.dumps(record) + "\n")
                log.flush()
                if writer is not None:
                    writer.write(record, done, skip=("step", "time"))
                info = " · ".join(f"{k} {v:.4g}" for k, v in record.items() if k in ("loss", "acc_in_dist"))
            if done % config.checkpoint_every == 0 or done == stop:
                check_finite_weights(model, f"step {done}")
                _checkpoint(ckpt, model, tokenizer, optimizer, scheduler, done, config)
            bar.update(done, info=info)


def _read_training_config(ckpt: Path) -> dict:
    path = ckpt / "training_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint folder {ckpt} is missing training_config.json")
    return read_json(path, "JSON config")


def _read_trainer_state(path: Path) -> dict:
    """The optimizer, scheduler, step and RNG state of a checkpoint; errors name the file."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint folder {path.parent} is missing {path.name}")
    state = read_state(path, ("step", "optimizer", "scheduler", "torch_rng"))
    step = state["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"{path}: step must be an int >= 0, got {step!r}")
    return state
