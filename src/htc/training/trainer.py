"""Training a text encoder + MLP head with any of the paper's losses, resumable exactly.

>>> from htc.datasets import load_hwv          # doctest: +SKIP
>>> from htc.training import Trainer, TrainConfig
>>> hwv = load_hwv()                           # doctest: +SKIP
>>> trainer = Trainer(TrainConfig(loss="conditional_softmax", encoder="tfidf"), hwv.taxonomy,
...                   out_dir="runs/cs")       # doctest: +SKIP
>>> trainer.fit(hwv.train, hwv.dev)            # doctest: +SKIP
>>> proba = trainer.predict_proba(hwv.test.texts)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from rich.console import Console
from safetensors.torch import load_file, save_file

from htc.data import Corpus, atomic_write
from htc.decoding import decode
from htc.decoding.tuning import selection_score
from htc.encoders import FinetuneEncoder, FrozenEncoder, TfidfEncoder
from htc.losses import make_loss
from htc.metrics import hierarchical_precision_recall_fscore
from htc.progress import Progress
from htc.run_folder import follow_umask
from htc.stats import end_labels
from htc.taxonomy import Taxonomy
from htc.training.checkpoint import load_checkpoint, save_checkpoint, save_weights, set_rng_state
from htc.training.config import TrainConfig
from htc.training.multipath import prepare_targets
from htc.training.scalars import ScalarWriter


class Head(torch.nn.Module):
    """The paper's head: Linear(d → hidden) → ReLU → Dropout → Linear(hidden → outputs)."""

    def __init__(self, in_dim: int, n_out: int, hidden: int = 792, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(in_dim, hidden), torch.nn.ReLU(),
                                       torch.nn.Dropout(dropout), torch.nn.Linear(hidden, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class HTCModel(torch.nn.Module):
    """Optional trainable encoder followed by the head."""

    def __init__(self, head: Head, encoder: FinetuneEncoder | None = None) -> None:
        super().__init__()
        self.head = head
        self.encoder = encoder

    def forward(self, batch: dict) -> torch.Tensor:
        feats = self.encoder(**batch) if self.encoder is not None else batch["x"]
        return self.head(feats)


def resolve_device(name: str) -> torch.device:
    """The torch device of ``--device``; a name torch does not know or a device this machine lacks
    is a ``ValueError`` naming the option (checked before any work)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"--device {name}: not a torch device; use auto, cpu, cuda or cuda:K") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: this machine has no CUDA GPU that torch can use "
                             "(torch.cuda.is_available() is False); use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"--device {name}: MPS is not available on this machine; use --device cpu")
    elif device.type != "cpu":
        raise ValueError(f"--device {name}: htc trains on cpu, cuda or mps, not {device.type}")
    return device


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:200] if lines else type(err).__name__


def _read_meta(path: Path) -> dict:
    """A saved model's ``meta.json``; a damaged one is a ``ValueError`` naming the file."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({_first_line(err)})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: not a JSON object")
    for key, kind in (("in_dim", int), ("history", list)):
        if key not in meta:
            raise ValueError(f"{path}: '{key}' is missing")
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            raise ValueError(f"{path}: '{key}' must be {'an int' if kind is int else 'a list'}, "
                             f"got {meta[key]!r:.60}")
    return meta


class Trainer:
    """Fits, evaluates, saves and loads one model (see :class:`TrainConfig`)."""

    def __init__(self, config: TrainConfig, taxonomy: Taxonomy, out_dir: str | Path | None = None,
                 console: Console | None = None, progress: bool = True) -> None:
        self.config = config
        self.taxonomy = taxonomy
        self.out_dir = Path(out_dir) if out_dir else None
        self.console = console or Console(stderr=True)
        self.progress = progress
        self.device = resolve_device(config.device)
        self.features = None  # tfidf / frozen encoder
        self.model: HTCModel | None = None
        self.loss_fn = None
        self.history: list[dict] = []
        self.tuning: dict | None = None  # how the decoder's parameter was tuned (htc train --tune)
        #: the single-path loss when it was trained on multi-path documents, their target mass
        #: split (its marginals cannot express several paths: ``resolve_optimal`` says so)
        self.split_loss: str | None = None
        #: False on the processes other than rank 0 of a multi-process run: they write no file
        self.is_main_process = True

    # ------------------------------------------------------------------ building
    @staticmethod
    def _accelerator():
        """An ``accelerate.Accelerator`` when launched on several processes (``accelerate launch``,
        ``torchrun``), else ``None``: one process runs the plain loop."""
        import os

        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return None
        from accelerate import Accelerator
        from accelerate.utils import DistributedType

        acc = Accelerator(cpu=not torch.cuda.is_available())
        if acc.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP,
                                    DistributedType.MEGATRON_LM):
            raise ValueError(f"htc train runs data parallel (DDP) only, not "
                             f"{acc.distributed_type.value}: launch with accelerate launch "
                             "--multi_gpu (or torchrun), without a DeepSpeed or FSDP config")
        return acc

    def _net(self) -> HTCModel:
        """The model without its distributed wrapper."""
        acc = getattr(self, "_acc", None)
        return acc.unwrap_model(self.model) if acc is not None else self.model

    def _seed(self) -> None:
        seed = self.config.seed
        random.seed(seed)
        np.random.seed(seed)  # noqa: NPY002 (global state that libraries use)
        torch.manual_seed(seed)

    def _build(self, train: Corpus | None, fit_encoder: bool = True) -> None:
        cfg = self.config
        if cfg.loss == "conditional_softmax_la" and train is None:
            # a loaded model only needs marginals, which ignore the logit adjustment
            self.loss_fn = make_loss("conditional_softmax", self.taxonomy)
        else:
            self.loss_fn = make_loss(cfg.loss, self.taxonomy,
                                     y_train=None if train is None else train.y, tau=cfg.tau,
                                     champ_beta=cfg.champ_beta,
                                     multi_positive=cfg.multi_path == "split")
        encoder = None
        if not fit_encoder:
            in_dim = None  # taken from the precomputed features
        elif cfg.encoder == "tfidf":
            if self.features is None:
                self.features = TfidfEncoder(max_features=cfg.tfidf_max_features,
                                             svd_dim=cfg.tfidf_svd, seed=cfg.seed).fit(train.texts)
            in_dim = self.features.dim
        elif cfg.encoder == "frozen":
            self.features = self.features or FrozenEncoder(cfg.model, max_length=cfg.max_length,
                                                           precision=cfg.embed_precision)
            in_dim = None  # known after the first transform
        else:
            encoder = FinetuneEncoder(cfg.model, max_length=cfg.max_length)
            in_dim = encoder.dim
        self._encoder = encoder
        self._in_dim = in_dim

    def _make_model(self, in_dim: int) -> None:
        cfg = self.config
        head = Head(in_dim, self.loss_fn.n_outputs, cfg.hidden, cfg.dropout)
        self.model = HTCModel(head, self._encoder).to(self.device)
        self.loss_fn.to(self.device)

    def _inputs(self, texts):
        """Per-document inputs: a feature matrix (tfidf/frozen) or the texts (finetune)."""
        if self.config.encoder == "finetune":
            return list(texts)
        if isinstance(self.features, FrozenEncoder):
            return self.features.transform(texts, progress=self.progress, file=self.console.file)
        return self.features.transform(texts)

    def _batch(self, inputs, idx: np.ndarray) -> dict:
        if self.config.encoder == "finetune":
            enc = self.model.encoder.tokenize([inputs[i] for i in idx])
            return {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids",
                                                                           "attention_mask")}
        rows = inputs[idx]
        rows = rows.toarray() if sp.issparse(rows) else rows
        return {"x": torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)).to(self.device)}

    def _autocast(self):
        on_gpu = self.device.type == "cuda" and self.config.bf16
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=on_gpu)

    def _optimizer(self):
        cfg = self.config
        groups = [{"params": list(self.model.head.parameters()), "lr": cfg.lr_head,
                   "weight_decay": cfg.weight_decay}]
        if self.model.encoder is not None:
            decay, no_decay = [], []
            for name, p in self.model.encoder.named_parameters():
                (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
            groups += [{"params": decay, "lr": cfg.lr_encoder, "weight_decay": cfg.weight_decay},
                       {"params": no_decay, "lr": cfg.lr_encoder, "weight_decay": 0.0}]
        # the fused kernel is one call per step instead of a Python loop over parameters
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8, fused=fused)

    # ------------------------------------------------------------------ training
    def fit(self, train: Corpus, dev: Corpus, *, resume: bool = False,
            stop_after_steps: int | None = None, inputs: tuple | None = None) -> dict:
        """Train with early stopping on the dev score ``config.selection``; keeps the best weights.

        ``resume=True`` continues from ``out_dir/checkpoint.pt`` exactly where it stopped.
        ``stop_after_steps`` ends the run abruptly after that many optimiser steps, without a
        final save, as if it were killed (used to test resumption). ``inputs=(x_train, x_dev)``
        gives precomputed encoder features (``tfidf``/``frozen`` only), e.g. shared by many runs;
        the model then cannot be saved with its encoder, only used to predict from features.

        Training documents with several paths are handled by ``config.multi_path`` first (see
        :mod:`htc.training.multipath`); ``"error"`` refuses here, before any encoder is fitted.
        """
        cfg = self.config
        if len(train) == 0 or len(dev) == 0:
            raise ValueError("train and dev sets must not be empty")
        if inputs is not None:
            if cfg.encoder == "finetune":
                raise ValueError("inputs= (precomputed features) needs encoder tfidf or frozen, "
                                 "not finetune")
            if len(inputs) != 2 or inputs[0].shape[0] != len(train) or inputs[1].shape[0] != len(dev):
                raise ValueError("inputs must be (x_train, x_dev) with one row per train and dev "
                                 "document")
        auto_notice = None
        if cfg.loss == "auto":  # picked by the training data; the config keeps the loss trained
            from htc.train_config import auto_loss

            cfg.loss = auto_loss(self.taxonomy, train.y)
            n_multi_auto = int((np.diff(end_labels(train.y, self.taxonomy).indptr) > 1).sum())
            why = (f"{n_multi_auto} of {len(train)} training documents have several paths"
                   if n_multi_auto else "every training document has one path, in a tree"
                   if self.taxonomy.is_tree else "the taxonomy is a DAG")
            auto_notice = f"--loss auto: {cfg.loss} ({why})"
        train, keep, notice, n_multi = prepare_targets(train, self.taxonomy, cfg.loss,
                                                       cfg.multi_path)
        if auto_notice:
            notice = auto_notice if notice is None else f"{auto_notice}; {notice}"
        from htc.losses import SINGLE_PATH_LOSSES

        self.split_loss = (cfg.loss if n_multi and cfg.multi_path == "split"
                           and cfg.loss in SINGLE_PATH_LOSSES else None)
        selection = cfg.selection
        if selection == "auto":
            selection = "h_samples_f" if n_multi else "h_micro_f"
        score_name = {"h_micro_f": "dev micro-hF1",
                      "h_samples_f": "dev per-document hF1"}[selection]
        t0 = time.perf_counter()
        acc = self._accelerator()
        self._acc = None
        if acc is not None:
            self.device = acc.device
        main = acc is None or acc.is_main_process
        self.is_main_process = main
        if notice and main:
            self.console.print(notice, highlight=False)
        self._seed()
        self._build(train, fit_encoder=inputs is None)
        if inputs is not None and keep is not None:
            inputs = (inputs[0][keep], inputs[1])
        x_train, x_dev = inputs if inputs is not None else (self._inputs(train.texts),
                                                            self._inputs(dev.texts))
        if self._in_dim is None:
            self._in_dim = x_train.shape[1]
        self._make_model(self._in_dim)
        y_train = torch.from_numpy(train.y.toarray().astype(np.float32))
        optimizer = self._optimizer()
        steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
        total = steps_per_epoch * cfg.epochs
        warm = int(cfg.warmup * total)

        def lr_lambda(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return max(0.0, (total - step) / max(1, total - warm))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
        state = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best": -1.0,
                 "best_epoch": -1, "bad_epochs": 0}
        ckpt_path = self.out_dir / "checkpoint.pt" if self.out_dir else None
        if resume:
            if ckpt_path is None:
                raise ValueError("resume=True needs out_dir")
            ck = load_checkpoint(ckpt_path)
            self.model.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
            scheduler.load_state_dict(ck["scheduler"])
            state, self.history = ck["state"], ck["history"]
            set_rng_state(ck["rng"])
            if main:
                # a run killed after logging an epoch but before that epoch's checkpoint would
                # otherwise log it twice: the log restarts from the checkpoint's history
                with atomic_write(self.out_dir / "log.jsonl", suffix=".jsonl") as fh:
                    fh.writelines(json.dumps(record) + "\n" for record in self.history)
                self.console.print(f"resumed from {ckpt_path} at epoch {state['epoch']}, "
                                   f"step {state['step_in_epoch']}")
        if acc is not None:  # DDP + mixed precision; each process takes a share of every batch
            self.model, optimizer = acc.prepare(self.model, optimizer)
            self._acc = acc
        if self.out_dir and main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            cfg.save(self.out_dir / "config.json")

        def checkpoint():
            if ckpt_path is not None and main:
                save_checkpoint(ckpt_path, model=self._net().state_dict(),
                                optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                                state=dict(state), history=list(self.history))
            if acc is not None:
                acc.wait_for_everyone()

        if self.out_dir and main and not resume:  # a new run: the log is its own, not appended to an older one
            (self.out_dir / "log.jsonl").unlink(missing_ok=True)
        log = (self.out_dir / "log.jsonl").open("a") if self.out_dir and main else None
        scalars = ScalarWriter(self.out_dir) if cfg.tensorboard and self.out_dir and main else None
        bar = Progress(f"{cfg.loss}: training", total, unit="steps (at most: early stopping)",
                       done=state["epoch"] * steps_per_epoch + state["step_in_epoch"],
                       file=self.console.file, enabled=self.progress and main)
        say = bar.line if bar.enabled else (lambda text: self.console.print(text, highlight=False))
        if bar.enabled:
            bar.line(f"training {cfg.loss} on {len(train):,} documents: up to {cfg.epochs} epochs × "
                     f"{steps_per_epoch} steps of {cfg.batch_size}, early stopping on {score_name} after "
                     f"{cfg.patience} epoch(s) without improvement")
        try:
            with bar:
                while state["epoch"] < cfg.epochs and state["bad_epochs"] < cfg.patience:
                    epoch = state["epoch"]
                    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
                    perm = torch.randperm(len(train), generator=gen).numpy()
                    self.model.train()
                    # the epoch's step losses so far: in the checkpoint, so that a resumed run
                    # logs the same epoch loss as an uninterrupted one
                    running = state.setdefault("epoch_losses", [])
                    for step in range(state["step_in_epoch"], steps_per_epoch):
                        idx = perm[step * cfg.batch_size:(step + 1) * cfg.batch_size]
                        running.append(self.train_step(x_train, y_train, idx, optimizer,
                                                       scheduler))
                        state["global_step"] += 1
                        state["step_in_epoch"] = step + 1
                        bar.update(epoch * steps_per_epoch + step + 1,
                                   info=f"epoch {epoch + 1}/{cfg.epochs} · loss {np.mean(running[-20:]):.4f}")
                        if cfg.checkpoint_every and state["global_step"] % cfg.checkpoint_every == 0:
                            checkpoint()
                        if stop_after_steps is not None and state["global_step"] >= stop_after_steps:
                            return {"stopped_at_step": state["global_step"]}
                    scores = self.evaluate(dev, x_dev, selection=selection)
                    record = {"event": "epoch", "epoch": epoch + 1, "train_loss": float(np.mean(running))
                              if running else None, **{f"dev_{k}": v for k, v in scores.items()},
                              "lr_head": optimizer.param_groups[0]["lr"],
                              "seconds": time.perf_counter() - t0}
                    self.history.append(record)
                    if log:
                        log.write(json.dumps(record) + "\n")
                        log.flush()
                    if scalars:
                        scalars.write(record, epoch + 1)
                    improved = scores["selection"] > state["best"]
                    if improved:
                        state.update(best=scores["selection"], best_epoch=epoch + 1, bad_epochs=0)
                        self._best_state = {k: v.detach().clone() for k, v in
                                            self._net().state_dict().items()}
                        if self.out_dir and main:
                            save_weights(self.out_dir / "best.pt", self._best_state)
                    else:
                        state["bad_epochs"] += 1
                    if main:
                        say(f"epoch {epoch + 1}: loss {record['train_loss']:.4f} · {score_name} "
                            f"{scores['selection']:.4f}" + (" (best)" if improved else "")
                            + f" · {bar.times().split(',')[0]}")
                    state.update(epoch=epoch + 1, step_in_epoch=0, epoch_losses=[])
                    checkpoint()
                if main and state["epoch"] < cfg.epochs:
                    say(f"early stop after epoch {state['epoch']}: no dev improvement for "
                        f"{cfg.patience} epoch(s); best epoch {state['best_epoch']}")
        finally:
            if log:
                log.close()
            if scalars:
                scalars.close()
        if acc is not None:
            acc.wait_for_everyone()
            self.model = self._net()
            self._acc = None
        best_path = self.out_dir / "best.pt" if self.out_dir else None
        if best_path is not None and best_path.is_file():
            self.model.load_state_dict(torch.load(best_path, map_location="cpu"))
        elif getattr(self, "_best_state", None) is not None:
            self.model.load_state_dict(self._best_state)
        return {"selection": selection, "best_dev_score": state["best"],
                **({"best_dev_h_micro_f": state["best"]} if selection == "h_micro_f" else {}),
                "best_epoch": state["best_epoch"],
                "epochs_run": state["epoch"], "seconds": time.perf_counter() - t0,
                "train_docs": len(train), "multi_path_docs": n_multi}

    def train_step(self, inputs, y: torch.Tensor, idx: np.ndarray, optimizer, scheduler) -> float:
        """One optimiser step on documents ``idx``: forward, loss, backward, clip, AdamW, LR.

        Returns the batch's mean loss. Under accelerate each process takes ``idx[rank::world]``;
        its loss is weighted by its share of the batch (``len(share) · world / len(idx)``), so
        that the gradients DDP averages are those of the whole batch's mean loss even when the
        shares differ in size, and the returned loss is the whole batch's, the same on every
        process. A batch smaller than the number of processes is taken whole by each."""
        acc = getattr(self, "_acc", None)
        n_batch, scale = len(idx), 1.0
        if acc is not None and n_batch >= acc.num_processes:
            idx = idx[acc.process_index::acc.num_processes]
            scale = len(idx) * acc.num_processes / n_batch
        batch = self._batch(inputs, idx)
        with self._autocast():
            logits = self.model(batch)
        loss = self.loss_fn(logits.float(), y[idx].to(self.device))
        optimizer.zero_grad(set_to_none=True)
        if acc is not None:
            acc.backward(loss * scale if scale != 1.0 else loss)
            if self.config.grad_clip > 0:
                acc.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        else:
            loss.backward()
            if self.config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        optimizer.step()
        scheduler.step()
        if acc is not None:  # the whole batch's mean: sum over processes of share-weighted means
            return float(acc.reduce(loss.detach() * (scale / acc.num_processes), reduction="sum"))
        return float(loss.detach())

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict_proba(self, texts, inputs=None, batch_size: int = 256) -> np.ndarray:
        """Node marginals (documents × taxonomy labels) for ``texts``."""
        if self.model is None:
            raise RuntimeError("the model is not trained or loaded yet")
        inputs = self._inputs(texts) if inputs is None else inputs
        net = self._net()
        net.eval()
        n = len(inputs) if isinstance(inputs, list) else inputs.shape[0]
        out = []
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(n, start + batch_size))
            with self._autocast():
                logits = net(self._batch(inputs, idx))
            out.append(self.loss_fn.marginals(logits.float()).cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, len(self.taxonomy)))

    def evaluate(self, corpus: Corpus, inputs=None, selection: str | None = None) -> dict:
        """Dev/test scores under the configured decoder; with ``selection`` (``"h_micro_f"`` or
        ``"h_samples_f"``, see :class:`TrainConfig`) also the model-selection score, as
        ``"selection"``."""
        proba = self.predict_proba(corpus.texts, inputs)
        cfg = self.config
        y_pred = decode(proba, self.taxonomy, cfg.decoder, threshold=cfg.threshold,
                        beta=cfg.decoder_beta)
        p, r, f = hierarchical_precision_recall_fscore(corpus.y, y_pred, self.taxonomy)
        leaf = hierarchical_precision_recall_fscore(corpus.y, y_pred, self.taxonomy,
                                                    average="leaf")[2]
        out = {"h_micro_p": p, "h_micro_r": r, "h_micro_f": f, "h_leaf_f": leaf}
        if selection == "h_micro_f":
            out["selection"] = f
        elif selection == "h_samples_f":
            out["selection"] = selection_score(proba, corpus.y, self.taxonomy, cfg.decoder,
                                               beta=cfg.decoder_beta)
        elif selection is not None:
            raise ValueError(f"selection must be 'h_micro_f' or 'h_samples_f', got {selection!r}")
        return out

    # ------------------------------------------------------------------ saving
    def save(self, folder: str | Path) -> Path:
        """Config, taxonomy, encoder (TF-IDF files or ``save_pretrained``) and head weights."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.save(folder / "config.json")
        self.taxonomy.to_file(folder / "labels.taxonomy")
        state = {k: v.contiguous() for k, v in self.model.head.state_dict().items()}
        save_file(state, str(folder / "head.safetensors"))
        follow_umask(folder / "head.safetensors")  # safetensors writes 0600; its siblings follow the umask
        if self.config.encoder == "tfidf":
            self.features.save(folder / "encoder")
        elif self.config.encoder == "finetune":
            self.model.encoder.model.save_pretrained(folder / "encoder")
            self.model.encoder.tokenizer.save_pretrained(folder / "encoder")
        (folder / "meta.json").write_text(json.dumps({"in_dim": self._in_dim,
                                                      "labels": self.taxonomy.nodes,
                                                      "history": self.history,
                                                      "tuning": self.tuning,
                                                      "split_loss": self.split_loss}, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str = "auto") -> Trainer:
        folder = Path(folder)
        for f in ("config.json", "labels.taxonomy", "head.safetensors", "meta.json"):
            if not (folder / f).is_file():
                raise FileNotFoundError(f"{folder}: not a saved htc model ({f} is missing)")
        config = TrainConfig.load(folder / "config.json")
        config.device = device
        trainer = cls(config, Taxonomy.from_file(folder / "labels.taxonomy"))
        meta = _read_meta(folder / "meta.json")
        if meta.get("labels", trainer.taxonomy.nodes) != trainer.taxonomy.nodes:
            raise ValueError(f"{folder}: labels.taxonomy does not match the model's label order")
        if config.encoder == "tfidf":
            trainer.features = TfidfEncoder.load(folder / "encoder")
        elif config.encoder == "finetune":
            config.model = str(folder / "encoder")
        trainer._build(None)
        trainer._make_model(meta["in_dim"])
        head = folder / "head.safetensors"
        try:
            trainer.model.head.load_state_dict(load_file(str(head)))
        except Exception as err:  # a truncated or foreign file fails in many ways
            raise ValueError(f"{head}: cannot load the model's head weights ({type(err).__name__}: "
                             f"{_first_line(err)})") from None
        trainer.history = meta["history"]
        trainer.tuning = meta.get("tuning")
        trainer.split_loss = meta.get("split_loss")
        return trainer
