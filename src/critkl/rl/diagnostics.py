"""Per-update diagnostics: the weight on critical vs other tokens, gradient norms of the loss terms, and
teacher-forced metrics along gold scratchpads (p(gold), KL to the reference, p(correct critical token))."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from ..arithmetic import Problem
from ..critical import critical_positions
from ..rollout import Rollout


def critical_step_mask(rollout: Rollout, max_digits: int) -> torch.Tensor:
    """(B, T) bool: steps that emit a critical character from a ground-truth prefix.

    A critical index i of ``problem.target`` (:func:`critkl.critical_positions`) counts only if
    the episode's first i generated characters equal the target's, so the state is the one
    the critical-token definition refers to.
    """
    out = torch.zeros_like(rollout.action_mask)
    for b, (prob, text) in enumerate(zip(rollout.problems, rollout.texts, strict=True)):
        tgt = prob.target
        first = int(rollout.action_mask[b].nonzero()[0])
        for tok in critical_positions(prob, max_digits):
            i = tok.index
            if i < len(text) and text[:i] == tgt[:i]:
                out[b, first + i] = True
    return out


def quantiles(x: torch.Tensor, prefix: str) -> dict[str, float]:
    """Mean and 10/50/90 % quantiles of a 1-D tensor (NaN when empty)."""
    x = x.detach().float().flatten()
    if x.numel() == 0:
        return {f"{prefix}_{k}": float("nan") for k in ("mean", "p10", "p50", "p90")} | {f"{prefix}_n": 0}
    q = torch.quantile(x, torch.tensor([0.1, 0.5, 0.9])).tolist()
    return {f"{prefix}_mean": float(x.mean()), f"{prefix}_p10": q[0], f"{prefix}_p50": q[1],
            f"{prefix}_p90": q[2], f"{prefix}_n": int(x.numel())}


class GoldPath:
    """Teacher-forced metrics of a policy along the gold scratchpads of a fixed problem set.

    Noise-free (no sampling): one policy forward per batch; the reference's log-probs are computed
    once, at construction. Per call (:meth:`metrics`):

    - ``p_gold``: mean over problems of ``π_T(gold continuation)``, the probability of writing the
      whole correct scratchpad and answer, a lower bound of the expected exact-match accuracy at T;
    - ``kl_critical`` / ``kl_other``: the exact ``KL(π_T(·|s) ‖ π_ref,T(·|s))`` over the vocabulary,
      averaged over gold states that emit a critical character (:func:`critkl.critical_positions`)
      and over all other gold states (the drift the KL penalty is there to prevent);
    - ``p_critical/step_k/operand_j/n+g_{comma|digit}``: mean ``π_T(correct character)`` at each named
      critical position (the paper's Fig. 4/7 curves; official logging names).

    >>> gp = GoldPath(reference, problems, max_digits=4, temperature=1.0)  # doctest: +SKIP
    >>> gp.metrics(policy_lm)["p_gold"]  # doctest: +SKIP
    """

    def __init__(self, reference, problems: Sequence[Problem], max_digits: int, temperature: float,
                 batch_size: int = 64) -> None:
        from ..rollout import gold_episodes

        self.problems = list(problems)
        self.temperature = float(temperature)
        self.batches = [gold_episodes(self.problems[i : i + batch_size])
                        for i in range(0, len(self.problems), batch_size)]
        self.critical = [critical_step_mask(ro, max_digits) & ro.action_mask for ro in self.batches]
        self.names = [self._names(ro, max_digits) for ro in self.batches]
        self.ref_logp = [self._logp(reference, ro) for ro in self.batches] if len(self.problems) else []

    @staticmethod
    def _names(ro: Rollout, max_digits: int) -> list[tuple[int, int, str]]:
        out = []
        for b, prob in enumerate(ro.problems):
            first = int(ro.action_mask[b].nonzero()[0])
            out += [(b, first + tok.index, tok.name) for tok in critical_positions(prob, max_digits)]
        return out

    @torch.no_grad()
    def _logp(self, lm, ro: Rollout) -> torch.Tensor:
        from ..rollout import step_logits, trajectory_logits

        logits = step_logits(trajectory_logits(lm, ro.ids, ro.attention_mask))
        return torch.log_softmax(logits.float() / self.temperature, dim=-1)

    @torch.no_grad()
    def metrics(self, lm, prefix: str = "") -> dict[str, float]:
        """The metrics above for ``lm`` (eval mode is the caller's job), keys prefixed by ``prefix``."""
        if not self.problems:
            return {}
        p_gold, kl_crit, kl_other, n_crit, n_other = [], 0.0, 0.0, 0, 0
        named: dict[str, list[float]] = defaultdict(list)
        for ro, ref, crit, names in zip(self.batches, self.ref_logp, self.critical, self.names, strict=True):
            logp = self._logp(lm, ro)
            taken = logp.gather(-1, ro.ids[:, 1:, None]).squeeze(-1) * ro.action_mask
            p_gold += taken.sum(-1).exp().tolist()
            kl = (logp.exp() * (logp - ref)).sum(-1)
            other = ro.action_mask & ~crit
            kl_crit += float(kl[crit].sum())
            kl_other += float(kl[other].sum())
            n_crit, n_other = n_crit + int(crit.sum()), n_other + int(other.sum())
            for b, pos, name in names:
                named[f"p_critical/{name}"].append(float(taken[b, pos].exp()))
        out = {"p_gold": float(np.mean(p_gold)),
               "kl_critical": kl_crit / n_crit if n_crit else float("nan"),
               "kl_other": kl_other / n_other if n_other else float("nan")}
        out.update({k: float(np.mean(v)) for k, v in sorted(named.items())})
        return {f"{prefix}{k}": v for k, v in out.items()}


def grad_norms(params: Sequence[torch.Tensor], **terms: torch.Tensor) -> dict[str, float]:
    """The L2 norm of the gradient of each scalar term over ``params``, without touching ``.grad``.

    Used to see how hard the KL term pulls against the policy loss (``α·‖∇L_KL‖ / ‖∇L_policy‖``);
    the graph is kept for the real backward pass that follows.

    >>> w = torch.tensor([3.0, 4.0], requires_grad=True)
    >>> grad_norms([w], a=(w * w).sum() / 2, b=w.sum())
    {'a': 5.0, 'b': 1.4142135381698608}
    """
    out = {}
    for name, term in terms.items():
        if not term.requires_grad:
            out[name] = 0.0
            continue
        grads = torch.autograd.grad(term, list(params), retain_graph=True, allow_unused=True)
        out[name] = float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))
    return out
