"""``PrioritizedGRPOTrainer``: TRL's GRPO with the per-token KL multiplied by the prioritized weight.

TRL's GRPO loss adds ``beta · KL_t`` per completion token (k3 estimator, ``_compute_loss``).
This trainer makes it ``beta · w_t · KL_t`` with ``w_t = slope · J_t^β + intercept`` (no gradient),
where ``J_t`` is the reference model's certainty (:func:`critkl.kl.certainty`) at that token.

How (three overrides, no TRL code copied):

1. ``_get_per_token_logps_and_entropies``: for the reference model only, TRL's own chunked
   reference pass runs unchanged (its reference log-probs are kept bit for bit) while a forward hook
   keeps the reference backbone's last hidden states; the completion positions go through the LM
   head and give the certainty (``certainty_kind`` at ``certainty_temperature``): one backbone
   forward, plus one LM-head projection of the completion tokens.
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
import torch.nn.functional as F
import trl
from torch.distributed.tensor import DTensor
from trl import GRPOTrainer

try:  # TRL's context manager that all-gathers ZeRO-3 partitioned LM-head parameters
    from trl.trainer.utils import maybe_gather_lm_head_ctx as _gather_params
except ImportError:  # pragma: no cover - other TRL versions
    from contextlib import nullcontext as _gather_params

from ..calibration import WeightCollapseWarning, collapse_message, is_collapsed
from ..kl import certainty as reference_certainty
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
    """Wraps the reference model for TRL's chunked reference pass.

    TRL calls ``model(**inputs, labels=labels, fused_lm_head=True)`` and reads ``.log_probs``; the call
    goes to the model unchanged (the reference log-probs are TRL's own, bit for bit) while a forward
    hook on the backbone keeps its last hidden states. The completion positions' hidden states go
    through the LM head (and the model's logit scale / softcap) one row at a time, and their
    certainty is kept in ``self.certainties``. The first call also checks that these logits give
    TRL's log-probs (``check=True``).
    """

    def __init__(self, model: torch.nn.Module, logits_to_keep: int, temperature: float, kind: str,
                 certainty_temperature: float, check: bool = False, fp32_head: bool = False):
        self.model = model
        self.logits_to_keep = int(logits_to_keep)
        self.temperature = float(temperature)
        self.kind = kind
        self.certainty_temperature = float(certainty_temperature)
        self.check = check
        self.fp32_head = fp32_head
        self.max_logp_error: float | None = None
        self.certainties: list[torch.Tensor] = []
        core = _unwrap(model)
        if hasattr(core, "get_base_model"):  # PEFT wrapper
            core = core.get_base_model()
        self.head = core.get_output_embeddings()
        self.backbone = core.base_model
        if self.head is None or self.backbone is None or self.backbone is core:
            raise NotImplementedError(
                f"critkl.trl: {type(core).__name__} exposes no separate backbone and LM head "
                "(get_output_embeddings / base_model); the certainty cannot be computed"
            )
        self.scale, self.softcap = _logit_transform(core.config)

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The model's logits (float32) from last hidden states, like TRL's fused head computes them."""
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
            z = F.linear(hidden.to(weight.device, dtype), weight.to(dtype), None if bias is None else bias.to(dtype))
        z = z.float()
        if self.scale != 1.0:
            z = z * self.scale
        if self.softcap is not None:
            z = torch.tanh(z / self.softcap) * self.softcap
        return z

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
        certainty = torch.zeros(hidden.shape[:2], dtype=torch.float32, device=hidden.device)
        errors = []
        check = self.check and getattr(outputs, "log_probs", None) is not None
        for i in range(hidden.size(0)):  # one row at a time: one (k, |V|) float32 buffer at most
            z = self._logits(hidden[i])
            certainty[i] = reference_certainty(z, self.kind, self.certainty_temperature)
            if check:
                targets = labels[i, -k:]
                valid = targets != -100
                logp = torch.log_softmax(z[valid] / self.temperature, dim=-1)
                logp = logp.gather(-1, targets[valid, None].to(z.device)).squeeze(-1)
                trl_logp = outputs.log_probs[i, -k:][valid.to(outputs.log_probs.device)].float()
                if logp.numel():
                    errors.append((logp - trl_logp.to(logp.device)).abs().max())
        if errors:
            self.max_logp_error = float(torch.stack(errors).max())
            self.check = False
        self.certainties.append(certainty)
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

    Same arguments as ``GRPOTrainer``; ``args`` must be a :class:`PrioritizedGRPOConfig` with
    ``beta > 0`` (TRL's KL coefficient, the paper's α).

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
        uses_peft = kwargs.get("peft_config") is not None or hasattr(model, "peft_config")
        if args.beta != 0.0 and uses_peft:
            raise NotImplementedError(
                "critkl.trl: peft_config / a PEFT model is not supported with beta > 0: TRL then takes the "
                "reference from the policy with its adapter disabled and loads no ref_model, and this "
                "trainer computes the certainty only in the separate reference model's forward. Train "
                "without PEFT, or merge the adapter first."
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
        if self.beta != 0.0 and self.ref_model is None:
            raise NotImplementedError(
                "critkl.trl: TRL loaded no separate reference model (PEFT?); the certainty needs one"
            )

    # ------------------------------------------------------------------ the weight

    def kl_weight(self, certainty: torch.Tensor) -> torch.Tensor:
        """``slope · certainty^kl_weight_beta + intercept`` (no gradient), via :func:`critkl.kl.prioritized_weight`."""
        a = self.args
        return prioritized_weight(certainty, a.kl_weight_beta, a.kl_weight_slope, a.kl_weight_intercept)

    # ------------------------------------------------------------------ TRL overrides

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                           *args: Any, **kwargs: Any):
        if self.beta == 0.0 or self.ref_model is None or model is not self.ref_model:
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
