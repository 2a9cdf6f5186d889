"""``PrioritizedGRPOTrainer``: TRL's GRPO with the per-token KL multiplied by the prioritized weight.

TRL's GRPO loss adds ``beta · KL_t`` per completion token (k3 estimator, ``_compute_loss``).
This trainer makes it ``beta · w_t · KL_t`` with ``w_t = slope · J_t^β + intercept`` (no gradient;
Vassoyan et al. 2025, Eq. 1), where ``J_t`` is the reference model's certainty
(:func:`critkl.kl.certainty`, Eq. 2) at that token. Under PEFT (``peft_config`` or a ``PeftModel``)
the reference is, as in TRL, the policy with its adapter disabled (or TRL's frozen ``"ref"`` copy of a
``PeftModel``'s adapter), and the certainty comes from that same forward.

How (three overrides, no TRL code copied):

1. ``_get_per_token_logps_and_entropies``: for the reference pass only (the separate reference model,
   or, under PEFT, the policy while TRL has its adapter disabled or its frozen ``"ref"`` adapter
   active), TRL's own chunked reference pass runs unchanged (its reference log-probs are kept bit for
   bit) while a forward hook keeps the reference backbone's last hidden states; the completion
   positions go through the LM head in TRL's tiles and give the certainty (``certainty_kind`` at
   ``certainty_temperature``) by an online log-sum-exp: one backbone forward, plus one LM-head
   projection of the completion tokens, never a ``(tokens, |V|)`` buffer larger than TRL's own tile.
2. ``_generate_and_score_completions``: stores the certainty as ``inputs["ref_certainty"]``
   (batch, completion tokens) and logs ``kl_weight/{mean,min,p10,p50,p90}`` and ``certainty/mean``.
3. ``_compute_loss``: runs TRL's loss with ``self.beta`` temporarily replaced by a per-token
   coefficient ``beta · w`` (TRL computes ``per_token_loss + self.beta * per_token_kl``); it checks
   that TRL did apply it, and logs ``kl_weighted`` (the mean of ``w · KL``; TRL's ``kl`` stays the
   unweighted KL).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
import trl
from accelerate.utils import is_peft_model
from torch.distributed.tensor import DTensor
from trl import GRPOTrainer

try:  # TRL's context manager that all-gathers ZeRO-3 partitioned LM-head parameters
    from trl.trainer.utils import maybe_gather_lm_head_ctx as _gather_params
except ImportError:  # pragma: no cover - other TRL versions
    from contextlib import nullcontext as _gather_params
try:  # the tile TRL's chunked log-prob pass projects at once: tokens x vocabulary entries
    from trl.kernels.chunked_logprob import TOKEN_CHUNK_SIZE as TOKEN_TILE
    from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE as VOCAB_TILE
except ImportError:  # pragma: no cover - other TRL versions
    TOKEN_TILE, VOCAB_TILE = 4096, 32768

from ..calibration import WeightCollapseWarning, collapse_message, is_collapsed
from ..kl import prioritized_weight
from .config import PrioritizedGRPOConfig

CERTAINTY_KEY = "ref_certainty"
QUANTILES = (0.1, 0.5, 0.9)
LOGP_TOLERANCE = 0.25  # bf16 logits round differently in TRL's tiled head; a missing logit transform is >> this


class _PerTokenKLCoefficient:
    """Stands for TRL's scalar ``beta`` inside ``_compute_loss``: ``coef * per_token_kl = beta · w · KL``.

    Compares like the scalar ``beta`` (TRL tests ``self.beta != 0.0``); records the weighted KL.
    """

    def __init__(self, beta: float, weight: torch.Tensor):
        self.beta = float(beta)
        self.weight = weight
        self.weighted_kl: torch.Tensor | None = None
        self.uses = 0

    def _apply(self, per_token_kl: torch.Tensor) -> torch.Tensor:
        if not isinstance(per_token_kl, torch.Tensor) or per_token_kl.shape != self.weight.shape:
            shape = tuple(per_token_kl.shape) if isinstance(per_token_kl, torch.Tensor) else type(per_token_kl)
            raise RuntimeError(
                f"critkl.trl: TRL multiplied beta by {shape}, expected the per-token KL of shape "
                f"{tuple(self.weight.shape)}; this TRL version ({trl.__version__}) is not supported"
            )
        self.uses += 1
        weighted = self.weight.to(per_token_kl.dtype) * per_token_kl
        self.weighted_kl = weighted.detach()
        return self.beta * weighted

    __mul__ = __rmul__ = _apply

    def __eq__(self, other: object) -> bool:
        return self.beta == other

    def __ne__(self, other: object) -> bool:
        return self.beta != other

    def __float__(self) -> float:
        return self.beta

    __hash__ = None  # type: ignore[assignment]


def _logit_transform(config: Any) -> tuple[float, float | None]:
    """``(scale, softcap)`` that turn the LM head's output into the model's logits.

    The scalars ``transformers`` models apply after ``lm_head`` (the ones TRL's fused head also reads):
    a logit scale (``logit_scale``, ``output_multiplier``, ``lm_head_multiplier``, or ``1 / logits_scaling``,
    a multiplier for HyperCLOVA X) and Gemma's ``final_logit_softcapping``.
    """
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    scale = None
    for name in ("logit_scale", "output_multiplier", "lm_head_multiplier"):
        if getattr(text, name, None) is not None:
            scale = float(getattr(text, name))
            break
    if scale is None and getattr(text, "logits_scaling", None) is not None:
        scaling = float(text.logits_scaling)
        scale = scaling if getattr(text, "model_type", "") == "hyperclovax" else 1.0 / scaling
    softcap = getattr(text, "final_logit_softcapping", None)
    return (1.0 if scale is None else scale), (None if softcap is None else float(softcap))


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):  # DDP / DeepSpeed
        model = model.module
    return model


class _ReferenceWithCertainty:
    """Wraps the reference model (or, under PEFT, the policy with its adapter off) for TRL's chunked reference pass.

    TRL calls ``model(**inputs, labels=labels, fused_lm_head=True)`` and reads ``.log_probs``; the call
    goes to the model unchanged (the reference log-probs are TRL's own, bit for bit) while a forward
    hook on the backbone keeps its last hidden states. The completion positions' hidden states go
    through the LM head (and the model's logit scale / softcap) in TRL's tiles, ``tile_tokens`` tokens
    by ``tile_vocab`` vocabulary entries, and the certainty of each position is folded tile by tile
    with an online log-sum-exp: the full-vocabulary distribution is never held, and the largest
    buffers are those of TRL's own tiled head. The certainties are kept in ``self.certainties``. The
    first call also checks that these logits give TRL's log-probs (``check=True``).
    """

    def __init__(self, model: torch.nn.Module, logits_to_keep: int, temperature: float, kind: str,
                 certainty_temperature: float, check: bool = False, fp32_head: bool = False,
                 tile_tokens: int = TOKEN_TILE, tile_vocab: int = VOCAB_TILE):
        self.model = model
        self.logits_to_keep = int(logits_to_keep)
        self.temperature = float(temperature)
        self.kind = kind
        self.certainty_temperature = max(float(certainty_temperature), torch.finfo(torch.float32).tiny)
        self.check = check
        self.fp32_head = fp32_head
        self.tile_tokens, self.tile_vocab = int(tile_tokens), int(tile_vocab)
        self.max_logp_error: float | None = None
        self.certainties: list[torch.Tensor] = []
        core = _unwrap(model)
        if hasattr(core, "get_base_model"):  # PEFT wrapper: the transformers model inside it
            core = core.get_base_model()
        self.head = core.get_output_embeddings()
        self.backbone = core.base_model
        if self.head is None or self.backbone is None or self.backbone is core:
            raise NotImplementedError(
                f"critkl.trl: {type(core).__name__} exposes no separate backbone and LM head "
                "(get_output_embeddings / base_model); the certainty cannot be computed"
            )
        self.scale, self.softcap = _logit_transform(core.config)

    def _tile(self, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
              start: int, end: int) -> torch.Tensor:
        """float32 logits of vocabulary entries ``start:end``, computed as TRL's tiled head computes them."""
        z = torch.mm(hidden, weight[start:end].to(hidden.dtype).t())
        if bias is not None:
            z.add_(bias[start:end].to(hidden.dtype))
        z = z.float()
        if self.scale != 1.0:
            z.mul_(self.scale)
        if self.softcap is not None:
            z.div_(self.softcap).tanh_().mul_(self.softcap)
        return z

    def certainty_and_logp(self, hidden: torch.Tensor, targets: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Certainty (paper Eq. 2 or max-prob) of each row of ``hidden`` (N, H); with ``targets`` (N,),
        also their log-probs at the sampling temperature (TRL's reference log-probs, for the check).

        Per token, over the vocabulary tiles of ``z / T_c``: running max ``m``, ``s = Σ exp(z - m)``
        and ``y = Σ exp(z - m) · (z - m)`` (both rescaled when ``m`` grows); then, with
        ``log p = z - m - log s``, ``Σ p log p = y / s - log s`` (Shannon, Eq. 2:
        ``J = 1 + Σ p log p / log|V|``) and ``log max p = -log s`` (max-prob:
        ``J = 1 + log max p / log|V|``), as :func:`critkl.kl.certainty` computes them on full rows.
        """
        weight, bias = self.head.weight, getattr(self.head, "bias", None)
        if isinstance(weight, DTensor):  # FSDP2 shards
            weight = weight.full_tensor()
            bias = bias.full_tensor() if isinstance(bias, DTensor) else bias
        device = hidden.device.type
        if self.fp32_head:  # cast_lm_head_to_fp32: TRL projects in float32, outside autocast
            dtype = torch.float32
        else:  # as TRL's fused head: the autocast dtype, else the hidden states' dtype
            dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
        with _gather_params(weight, bias), torch.autocast(device, enabled=False):  # ZeRO-3: gather the head
            n, vocab = hidden.size(0), weight.size(0)  # (ZeRO-3: the head's shape is known once gathered)
            log_vocab = math.log(vocab)
            certainty = torch.empty(n, dtype=torch.float32, device=weight.device)
            logp = None if targets is None else torch.empty(n, dtype=torch.float32, device=weight.device)
            for t0 in range(0, n, self.tile_tokens):
                t1 = min(t0 + self.tile_tokens, n)
                h = hidden[t0:t1].to(weight.device, dtype)
                m = torch.full((t1 - t0,), -math.inf, device=weight.device)
                s, y = torch.zeros_like(m), torch.zeros_like(m)
                if targets is not None:  # the same statistics at the sampling temperature
                    tgt = targets[t0:t1].to(weight.device)
                    m_t, s_t, z_target = m.clone(), s.clone(), torch.zeros_like(m)
                for v0 in range(0, vocab, self.tile_vocab):
                    v1 = min(v0 + self.tile_vocab, vocab)
                    z = self._tile(h, weight, bias, v0, v1)
                    if targets is not None:
                        e = z / self.temperature
                        local = tgt - v0
                        inside = (local >= 0) & (local < v1 - v0)
                        picked = e.gather(-1, local.clamp(0, v1 - v0 - 1)[:, None]).squeeze(-1)
                        z_target = torch.where(inside, picked, z_target)
                        top = torch.maximum(m_t, e.amax(-1))
                        s_t = s_t * torch.exp(m_t - top) + e.sub_(top[:, None]).exp_().sum(-1)
                        m_t = top
                        del e
                    z.div_(self.certainty_temperature)
                    top = torch.maximum(m, z.amax(-1))
                    rescale = torch.exp(m - top)
                    e = z.sub_(top[:, None]).exp()  # z now holds z - m
                    tile_s = e.sum(-1)
                    if self.kind == "shannon":  # y was relative to the old max: y + s · (m_old - m_new)
                        carry = torch.where(s > 0, s * (m - top), 0.0)
                        y = rescale * (y + carry) + e.mul_(z).sum(-1)
                    s = s * rescale + tile_s
                    m = top
                    del z, e
                log_s = torch.log(s)
                inner = (y / s - log_s) if self.kind == "shannon" else -log_s  # Σ p log p, or log max p
                certainty[t0:t1] = (1.0 + inner / log_vocab).clamp(0.0, 1.0)
                if targets is not None:
                    logp[t0:t1] = z_target - (m_t + torch.log(s_t))
        return certainty, logp

    def __call__(self, *args: Any, labels: torch.Tensor, **kwargs: Any) -> Any:
        captured: dict[str, torch.Tensor] = {}

        def keep_hidden(module, inputs, output):
            captured["hidden"] = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]

        handle = self.backbone.register_forward_hook(keep_hidden)
        try:
            outputs = self.model(*args, labels=labels, **kwargs)
        finally:
            handle.remove()
        if "hidden" not in captured:
            raise RuntimeError("critkl.trl: the reference backbone's hidden states were not seen")
        k = self.logits_to_keep
        hidden = captured.pop("hidden")[:, -(k + 1):-1]  # position t-1 predicts token t
        rows = hidden.shape[:2]
        check = self.check and getattr(outputs, "log_probs", None) is not None
        targets = labels[:, -k:]
        certainty, logp = self.certainty_and_logp(hidden.reshape(-1, hidden.size(-1)),
                                                  targets.reshape(-1).clamp(min=0) if check else None)
        if check:
            valid = (targets != -100).reshape(-1).to(logp.device)
            trl_logp = outputs.log_probs[:, -k:].reshape(-1).float().to(logp.device)
            if valid.any():
                self.max_logp_error = float((logp - trl_logp)[valid].abs().max())
                self.check = False
        self.certainties.append(certainty.view(rows).to(hidden.device))
        return outputs


def _quantiles(x: torch.Tensor, qs: tuple[float, ...]) -> list[float]:
    """Linear-interpolation quantiles (as ``torch.quantile``) of a 1-D tensor of any size."""
    s = x.float().sort().values
    n = s.numel()
    out = []
    for q in qs:
        pos = q * (n - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        out.append(float(s[lo] + (s[hi] - s[lo]) * (pos - lo)))
    return out


class PrioritizedGRPOTrainer(GRPOTrainer):
    """``trl.GRPOTrainer`` whose per-token KL is weighted by the reference certainty (prioritized KL).

    Same arguments as ``GRPOTrainer`` (``peft_config``, a ``PeftModel`` and ``rollout_func`` included);
    ``args`` must be a :class:`PrioritizedGRPOConfig` with ``beta > 0`` (TRL's KL coefficient, the
    paper's α in Eq. 1).

    >>> from critkl.trl import PrioritizedGRPOConfig, PrioritizedGRPOTrainer  # doctest: +SKIP
    >>> args = PrioritizedGRPOConfig(output_dir="runs/grpo", beta=0.04, kl_weight_beta=150,
    ...                              certainty_kind="max_prob", certainty_temperature=4.0)  # doctest: +SKIP
    >>> trainer = PrioritizedGRPOTrainer(model="Qwen/Qwen2.5-0.5B", reward_funcs=reward,
    ...                                  args=args, train_dataset=dataset)  # doctest: +SKIP
    >>> trainer.train()  # doctest: +SKIP
    """

    def __init__(self, model: Any, reward_funcs: Any = None, args: PrioritizedGRPOConfig | None = None,
                 *more: Any, **kwargs: Any):
        if args is None:
            name = model if isinstance(model, str) else getattr(model.config, "_name_or_path", "model")
            args = PrioritizedGRPOConfig(f"{str(name).rstrip('/').split('/')[-1] or 'model'}-PrioritizedGRPO")
        if not isinstance(args, PrioritizedGRPOConfig):
            raise TypeError(
                f"args must be a critkl.trl.PrioritizedGRPOConfig, got {type(args).__name__}; "
                "it carries certainty_kind, certainty_temperature and kl_weight_beta/slope/intercept"
            )
        if args.beta == 0.0:
            warnings.warn(
                "PrioritizedGRPOTrainer: beta=0 (TRL's KL coefficient, the paper's alpha): TRL loads no "
                "reference model and adds no KL, so the prioritized weight has no effect; set beta > 0",
                UserWarning, stacklevel=2,
            )
        elif args.kl_weight_slope == 0.0 and args.kl_weight_intercept == 0.0:
            warnings.warn(
                "PrioritizedGRPOTrainer: kl_weight_slope = kl_weight_intercept = 0 makes the weight 0: "
                "the KL is computed but has no effect (use beta=0 to skip the reference model)",
                UserWarning, stacklevel=2,
            )
        self._pending_certainty: torch.Tensor | None = None
        self._warned_collapse = False
        #: max |log p| difference between the certainty's logits and TRL's reference log-probs (first batch)
        self.ref_logp_error: float | None = None
        super().__init__(model, reward_funcs, args, *more, **kwargs)
        if self.beta != 0.0 and self.ref_model is None and not is_peft_model(self.accelerator.unwrap_model(self.model)):
            raise NotImplementedError(
                "critkl.trl: TRL loaded no reference model and the policy is not a PEFT model, so there is no "
                f"reference forward to take the certainty from; this TRL version ({trl.__version__}) is not supported"
            )

    # ------------------------------------------------------------------ the weight

    def kl_weight(self, certainty: torch.Tensor) -> torch.Tensor:
        """``slope · certainty^kl_weight_beta + intercept`` (no gradient), via :func:`critkl.kl.prioritized_weight`."""
        a = self.args
        return prioritized_weight(certainty, a.kl_weight_beta, a.kl_weight_slope, a.kl_weight_intercept)

    # ------------------------------------------------------------------ TRL overrides

    def _is_reference_pass(self, model: torch.nn.Module) -> bool:
        """Whether TRL is computing the reference log-probs with ``model``.

        Without PEFT, the reference is TRL's separate ``ref_model``. With PEFT, TRL loads none and runs the
        policy itself inside ``use_adapter``: with every adapter disabled (a new adapter: the reference is
        the base model) or with its frozen copy ``"ref"`` active (an adapter being trained further).
        """
        if self.beta == 0.0:
            return False
        if self.ref_model is not None:
            return model is self.ref_model
        peft_model = self.accelerator.unwrap_model(model)
        if not is_peft_model(peft_model):
            return False
        enabled = getattr(peft_model, "has_active_enabled_adapter", None)
        if enabled is None:  # other PEFT versions
            enabled = not getattr(peft_model, "_adapters_disabled", False)
        return not enabled or ("ref" in peft_model.peft_config and peft_model.active_adapter == "ref")

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                           *args: Any, **kwargs: Any):
        if not self._is_reference_pass(model):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
            )
        if kwargs.get("compute_entropy") or kwargs.get("compute_aux_loss"):
            raise NotImplementedError("critkl.trl: entropy / aux loss of the reference model are not supported")
        ref = _ReferenceWithCertainty(model, logits_to_keep, self.temperature, self.args.certainty_kind,
                                      self.args.certainty_temperature, check=self.ref_logp_error is None,
                                      fp32_head=bool(getattr(self.args, "cast_lm_head_to_fp32", False)))
        out = super()._get_per_token_logps_and_entropies(
            ref, input_ids, attention_mask, logits_to_keep, *args, **kwargs
        )
        self._pending_certainty = torch.cat(ref.certainties, dim=0)
        if ref.max_logp_error is not None:
            self.ref_logp_error = ref.max_logp_error
            if self.ref_logp_error > LOGP_TOLERANCE:
                warnings.warn(
                    "critkl.trl: the logits the certainty is computed from do not reproduce TRL's reference "
                    f"log-probs (max |difference| {self.ref_logp_error:.3g} > {LOGP_TOLERANCE}); the model may "
                    "transform its logits in a way critkl.trl does not know, and the certainty may be wrong",
                    RuntimeWarning, stacklevel=2,
                )
        return out

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        self._pending_certainty = None
        output = super()._generate_and_score_completions(inputs)
        if self.beta == 0.0:
            return output
        certainty, self._pending_certainty = self._pending_certainty, None
        if certainty is None or certainty.shape != output["completion_ids"].shape:
            raise RuntimeError(
                "critkl.trl: the reference forward did not yield the certainty of the completion tokens; "
                f"this TRL version ({trl.__version__}) is not supported"
            )
        output[CERTAINTY_KEY] = certainty
        mask = output["completion_mask"]
        if output.get("tool_mask") is not None:
            mask = mask * output["tool_mask"]
        self._log_weight_metrics(certainty, mask)
        return output

    def _compute_loss(self, model, inputs: dict[str, Any]) -> torch.Tensor:
        if self.beta == 0.0:
            return super()._compute_loss(model, inputs)
        if CERTAINTY_KEY not in inputs:
            raise KeyError(
                f"inputs has no {CERTAINTY_KEY!r}: batches must come from "
                "PrioritizedGRPOTrainer._generate_and_score_completions"
            )
        beta = self.beta
        coefficient = _PerTokenKLCoefficient(beta, self.kl_weight(inputs[CERTAINTY_KEY]))
        self.beta = coefficient
        try:
            loss = super()._compute_loss(model, inputs)
        finally:
            self.beta = beta
        if coefficient.uses != 1:
            raise RuntimeError(
                f"critkl.trl: TRL's loss used the KL coefficient {coefficient.uses} times (expected once); "
                f"this TRL version ({trl.__version__}) is not supported"
            )
        mask = inputs["completion_mask"]
        if inputs.get("tool_mask") is not None:
            mask = mask * inputs["tool_mask"]
        mode = "train" if self.model.training else "eval"
        totals = torch.stack([(coefficient.weighted_kl * mask).sum(), mask.sum().to(coefficient.weighted_kl.dtype)])
        totals = self.accelerator.reduce(totals, reduction="sum")
        self._metrics[mode]["kl_weighted"].append((totals[0] / totals[1].clamp(min=1.0)).item())
        return loss

    # ------------------------------------------------------------------ metrics

    def _log_weight_metrics(self, certainty: torch.Tensor, mask: torch.Tensor) -> None:
        """Log the weight's and the certainty's statistics over all processes' completion tokens."""
        mode = "train" if self.model.training else "eval"
        valid = mask.bool()
        local = torch.stack([certainty[valid].float(), self.kl_weight(certainty[valid]).float()], dim=1)
        padded = self.accelerator.pad_across_processes(local, dim=0, pad_index=-1.0)
        gathered = self.accelerator.gather(padded)
        gathered = gathered[gathered[:, 0] >= 0]  # certainty is in [0, 1]; -1 marks padding
        if gathered.numel() == 0:
            return
        cert, weight = gathered[:, 0], gathered[:, 1]
        p10, p50, p90 = _quantiles(weight, QUANTILES)
        metrics = self._metrics[mode]
        metrics["kl_weight/mean"].append(weight.mean().item())
        metrics["kl_weight/min"].append(weight.min().item())
        metrics["kl_weight/p10"].append(p10)
        metrics["kl_weight/p50"].append(p50)
        metrics["kl_weight/p90"].append(p90)
        metrics["certainty/mean"].append(cert.mean().item())
        metrics["kl_weight/collapsed"].append(float(is_collapsed(p50)))
        if is_collapsed(p50) and not self._warned_collapse:
            self._warned_collapse = True  # critical tokens are rare: the median over all tokens is the ordinary ones'
            a = self.args
            warnings.warn(collapse_message(p50, a.certainty_kind, a.certainty_temperature, a.kl_weight_beta),
                          WeightCollapseWarning, stacklevel=2)
