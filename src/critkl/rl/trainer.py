"""The RL loop: collect → reference pass → GAE → A2C/PPO updates → test, with JSONL logs and exact resume.

One iteration (the "epoch" of the authors' official code): sample ``episodes_per_collect`` fresh N+k
problems and episodes at the policy temperature (KV cache), one no-grad forward of the
policy (values, old log-probs) and of the frozen reference (log-probs at the policy
temperature, certainty at the certainty temperature → weight w) per trajectory, GAE, then
Adam steps on minibatches of whole episodes, each from one forward over the trajectories.
The randomness of iteration i comes only from ``(seed, i)``, so a run resumed from its
checkpoint continues exactly as the uninterrupted run (on CPU).
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..arithmetic import eval_set, sample_rl
from ..calibration import WeightCollapseWarning, collapse_message, is_collapsed
from ..configbase import check_resume
from ..evaluate import accuracy
from ..finite import check_finite, check_finite_weights
from ..kl import certainty, exact_kl, kl_estimate, masked_mean, prioritized_weight
from ..model import load_model, max_digits_of, save_model
from ..reading import first_line, read_state
from ..rollout import Rollout, sample_episodes, step_logits, token_logprobs, trajectory_logits
from ..run_folder import ScalarWriter, atomic_path, claim, trim_log, write_text_atomic
from .a2c import a2c_loss
from .advantage import gae, group_advantages
from .config import RESUME_MAY_DIFFER, RLConfig
from .diagnostics import GoldPath, critical_step_mask, grad_norms, quantiles
from .losses import entropy_of, weighted_kl
from .policy import ActorCritic
from .ppo import ppo_loss
from .token_selection import shuffle_weights, top_entropy_mask

CHECKPOINT = "checkpoint.pt"
# The settings the start model's evaluation depends on (Trainer.start_evaluation).
START_KEYS = ("model", "train_digits", "pretrained_digits", "policy_temperature", "test_episodes",
              "in_dist_episodes", "heldout_seed", "eval_greedy")


def start_key(config: RLConfig) -> str:
    """The key of a start evaluation in a study's shared cache: the settings it depends on."""
    return json.dumps({k: getattr(config, k) for k in START_KEYS}, sort_keys=True)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _columns(attention_mask: torch.Tensor) -> tuple[int, int]:
    used = (attention_mask.sum(0) > 0).nonzero().squeeze(-1)
    return int(used[0]), int(used[-1]) + 1


def select_trainable(lm, pattern: str) -> list[str]:
    """Freeze every LM parameter whose name does not match ``pattern`` (``re.search``); return the
    names left trainable. ``""`` keeps all. Parameters frozen before (a NoPE position table) stay frozen.

    Training a few tensors is a stable way to fine-tune a small, sharply pre-trained model: on tiny-n3,
    Adam steps on every weight at lr 1e-4 collapse RL, while ``"ln_f"`` alone at lr 1e-2 raises held-out
    accuracy (docs/research-notes.md, section 4, "Training only `ln_f`").

    >>> select_trainable(load_model("tiny-n3")[0], r"ln_f")  # doctest: +SKIP
    ['transformer.ln_f.weight', 'transformer.ln_f.bias']
    """
    rx = re.compile(pattern)
    kept = []
    for name, p in lm.named_parameters():
        if pattern and not rx.search(name):
            p.requires_grad_(False)
        elif p.requires_grad:
            kept.append(name)
    if not kept:
        raise ValueError(f"trainable={pattern!r} matches no trainable parameter of the model; names look like "
                         f"{[n for n, _ in lm.named_parameters()][:3]}")
    return kept


class Trainer:
    """Holds the policy (actor-critic), the frozen reference, the optimizer and the run folder.

    >>> t = Trainer(RLConfig(model="tiny-n3", episodes=100, lr=3e-4))  # doctest: +SKIP
    >>> t.run()  # doctest: +SKIP
    """

    def __init__(self, config: RLConfig, lm=None, tokenizer=None) -> None:
        self.config = config = config.resolved()
        if config.decoding == "cuda_graph" and not torch.cuda.is_available():
            raise ValueError("--decoding cuda_graph needs a CUDA GPU and this machine has none that torch can use "
                             "(torch.cuda.is_available() is False): use --decoding dynamic or static")
        if config.threads:
            torch.set_num_threads(config.threads)
        if lm is None:
            lm, tokenizer = load_model(config.model)
        self.tokenizer = tokenizer
        self.n = config.pretrained_digits or max_digits_of(lm)
        self.k = config.train_digits - self.n if config.train_digits else 1
        if self.k < 1:
            raise ValueError(f"train_digits must exceed the pre-training length N={self.n}, "
                             f"got {config.train_digits}")
        self.reference = copy.deepcopy(lm).eval().requires_grad_(False)
        torch.manual_seed(config.seed)  # value-head initialisation
        self.policy = ActorCritic(lm.train(), config.value_hidden)
        select_trainable(self.policy.lm, config.trainable)
        params = [p for p in self.policy.parameters() if p.requires_grad]
        self._lm_params = [p for p in self.policy.lm.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=config.lr, eps=config.adam_eps)
        self.iteration = 0
        self.out = Path(config.out_dir)
        # one fixed held-out set for every run of the same settings, whatever its seed, so runs compare
        rng = np.random.default_rng([config.heldout_seed, 7])
        self.test_problems = [sample_rl(self.n, self.k, rng) for _ in range(config.test_episodes)]
        self.in_dist_problems = eval_set(self.n, "varying", size=max(config.in_dist_episodes, 1),
                                         seed=config.heldout_seed + 1)[: config.in_dist_episodes]
        t = config.policy_temperature
        self.heldout_gold = GoldPath(self.reference, self.test_problems, self.n, t)
        self.in_dist_gold = GoldPath(self.reference, self.in_dist_problems, self.n, t)
        self._tb = None
        self._warned_collapse = False

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
                "iteration": self.iteration, "config": asdict(self.config)}

    def save_checkpoint(self) -> Path:
        """Write ``checkpoint.pt`` through a temporary file and a rename (an interruption leaves the
        previous one whole); refuses weights that are not finite."""
        check_finite_weights(self.policy, f"iteration {self.iteration}")
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / CHECKPOINT
        try:
            with atomic_path(path) as tmp:
                torch.save(self.state_dict(), tmp)
        except Exception as e:  # a full disk, a file-size limit (torch raises RuntimeError): the previous one is whole
            raise OSError(f"cannot write the checkpoint of iteration {self.iteration} to "
                          f"{path} ({first_line(e)}); the previous checkpoint is kept") from None
        return path

    def load_checkpoint(self) -> bool:
        """Continue from ``checkpoint.pt`` if there is one. A checkpoint written with another config
        (a field outside ``RESUME_MAY_DIFFER``) or a damaged one raises ``ValueError`` naming it."""
        path = self.out / CHECKPOINT
        if not path.is_file():
            return False
        state = read_state(path, ("policy", "optimizer", "iteration", "config"))
        check_resume(path, state["config"], self.config, RESUME_MAY_DIFFER)
        iteration = state["iteration"]
        if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0:
            raise ValueError(f"{path}: iteration must be an int >= 0, got {iteration!r}")
        try:
            self.policy.load_state_dict(state["policy"])
            self.optimizer.load_state_dict(state["optimizer"])
        except Exception as e:  # a damaged state fails in many ways: missing keys, wrong types, shapes
            raise ValueError(f"{path}: does not fit the model {self.config.model} "
                             f"({type(e).__name__}: {first_line(e)})") from None
        self.iteration = iteration
        return True

    # ------------------------------------------------------------------ one iteration
    @torch.no_grad()
    def prepare(self, ro: Rollout) -> dict[str, torch.Tensor]:
        """Reference and old-policy quantities for every step (one forward each), KL reward, GAE."""
        c = self.config
        mask = ro.action_mask
        ref_logits = trajectory_logits(self.reference, ro.ids, ro.attention_mask)
        ref_logp = token_logprobs(ref_logits, ro.ids, c.policy_temperature) * mask
        ref_step_logits = step_logits(ref_logits)
        if c.kl == "prioritized":
            cert = certainty(ref_step_logits, c.certainty, c.certainty_temperature)
            weight = prioritized_weight(cert, c.beta, c.weight_slope, c.weight_intercept) * mask
        else:
            weight = mask.float()
        if c.weight_shuffle:  # same weights, placed on other tokens of the collect
            weight = shuffle_weights(weight, mask, torch.Generator().manual_seed(
                c.seed * 1_000_003 + self.iteration + 7_919))
        del ref_logits
        self.policy.eval()
        logits, values = self.policy(ro.ids, ro.attention_mask)
        old_logp = token_logprobs(logits, ro.ids, c.policy_temperature) * mask
        kl_exact = exact_kl(step_logits(logits), ref_step_logits, c.policy_temperature) * mask
        old_entropy = entropy_of(step_logits(logits), c.policy_temperature) if c.top_entropy_quantile < 1 else None
        del logits, ref_step_logits
        values = values[:, :-1] * mask
        rewards = ro.rewards.clone()
        kl_tok = kl_estimate(old_logp, ref_logp, c.kl_estimator, mask)
        if c.kl != "none" and c.kl_placement == "reward":
            rewards = rewards - c.alpha * weight * kl_tok
        if c.advantage == "group":  # critic-free: the other episodes of the problem are the baseline
            adv = group_advantages(rewards.sum(-1), c.group_size)[:, None] * mask
            ret = torch.zeros_like(adv)
        else:
            adv, ret = gae(rewards, values, mask, c.gamma, c.gae_lambda)
        if c.normalize_advantages:
            mean = masked_mean(adv, mask)
            std = masked_mean((adv - mean) ** 2, mask).sqrt()
            adv = (adv - mean) / (std + 1e-8) * mask
        if c.top_entropy_quantile < 1:  # the policy gradient on the most uncertain tokens only
            adv = adv * top_entropy_mask(old_entropy, mask, c.top_entropy_quantile)
        return {"ref_logp": ref_logp, "weight": weight, "old_logp": old_logp, "adv": adv, "ret": ret,
                "kl_tok": kl_tok, "kl_exact": kl_exact}

    def update(self, ro: Rollout, prep: dict[str, torch.Tensor]) -> dict[str, float]:
        """Adam steps over shuffled minibatches of episodes (A2C: one pass; PPO: ``ppo_epochs``)."""
        c = self.config
        self.policy.train()
        rng = np.random.default_rng([c.seed, 2, self.iteration])
        epochs = c.ppo_epochs if c.algo == "ppo" else 1
        use_kl = c.kl != "none" and c.kl_placement == "loss" and c.alpha > 0
        logs: list[dict[str, float]] = []
        n = len(ro.problems)
        for _ in range(epochs):
            perm = rng.permutation(n)
            for s in range(0, n, c.minibatch_episodes):
                idx = torch.as_tensor(perm[s : s + c.minibatch_episodes])
                a, b = _columns(ro.attention_mask[idx])
                ids, attn = ro.ids[idx, a:b], ro.attention_mask[idx, a:b]
                sl = (idx[:, None], torch.arange(a, b - 1)[None, :])
                mask = ro.action_mask[sl]
                logits, values = self.policy(ids, attn)
                logp = token_logprobs(logits, ids, c.policy_temperature)
                ent = entropy_of(step_logits(logits), c.policy_temperature)
                first = not logs
                kl = (weighted_kl(logp, prep["ref_logp"][sl], prep["weight"][sl], mask, c.kl_estimator)
                      if use_kl or first else torch.zeros(()))
                common = dict(advantages=prep["adv"][sl], values=values[:, :-1], returns=prep["ret"][sl],
                              entropy=ent, kl=kl if use_kl else torch.zeros(()), mask=mask,
                              value_coef=0.0 if c.advantage == "group" else c.value_coef,
                              entropy_coef=c.entropy_coef, alpha=c.alpha if use_kl else 0.0)
                if c.algo == "a2c":
                    terms = a2c_loss(logp, **common)
                else:
                    terms = ppo_loss(logp, prep["old_logp"][sl], clip=c.ppo_clip,
                                     clip_high=c.ppo_clip_high or c.ppo_clip, **common)
                if first:  # how hard the KL pulls against the reward, on this collect's first minibatch
                    grads = grad_norms(self._lm_params, policy=terms.policy, kl=kl)
                where = f"iteration {self.iteration + 1}"
                check_finite(terms.total.detach(), "the training loss", where)
                self.optimizer.zero_grad(set_to_none=True)
                terms.total.backward()
                if c.max_grad_norm > 0:
                    check_finite(torch.nn.utils.clip_grad_norm_(self.policy.parameters(), c.max_grad_norm),
                                 "the gradient norm", where)
                self.optimizer.step()
                logs.append(terms.as_floats())
        check_finite_weights(self.policy, f"iteration {self.iteration + 1}")
        alpha = c.alpha if use_kl else 0.0
        ratio = alpha * grads["kl"] / grads["policy"] if grads["policy"] > 0 else float("nan")
        return {k: float(np.mean([x[k] for x in logs])) for k in logs[0]} | {
            "adam_steps": len(logs), "grad_norm_policy": grads["policy"], "grad_norm_kl_unit": grads["kl"],
            "grad_ratio_kl_policy": ratio}

    def evaluate(self, every_problem: bool = True) -> dict[str, float]:
        """Held-out N+k accuracy (sampled at T_pol, and greedy), in-distribution accuracy, p(critical).

        ``every_problem=False`` (the evaluations between the first and the last) samples only the first
        ``sampled_test_episodes`` held-out problems when that is set; p(gold) is exact on all of them."""
        c = self.config
        lm = self.policy.lm.eval()
        out: dict[str, float] = {}
        n_test = len(self.test_problems)
        if not every_problem and c.sampled_test_episodes:
            n_test = c.sampled_test_episodes
        with torch.no_grad():
            # held-out and in-distribution problems share one sampled generation pass, whose random
            # stream depends only on the held-out seed and the iteration: every run of a study draws
            # the same numbers at the same evaluation (common random numbers), so arms compare closely
            both = accuracy(lm, self.test_problems[:n_test] + self.in_dist_problems, c.policy_temperature,
                            seed=c.heldout_seed * 100_003 + self.iteration, batch_size=256)
            out["heldout_acc_sampled"] = float(both[:n_test].mean())
            out["heldout_acc_sampled_n"] = n_test
            if c.eval_greedy:
                out["heldout_acc_greedy"] = float(accuracy(lm, self.test_problems, 0.0,
                                                           batch_size=256).mean())
            if self.in_dist_problems:
                out["in_dist_acc_sampled"] = float(both[n_test:].mean())
            gold = self.heldout_gold.metrics(lm)
            out["heldout_p_gold"] = gold.pop("p_gold")
            out["kl_ref_critical"], out["kl_ref_other"] = gold.pop("kl_critical"), gold.pop("kl_other")
            out.update(gold)  # p_critical/step_k/operand_j/n+g_{comma,digit}
            if self.in_dist_problems:
                in_dist = self.in_dist_gold.metrics(lm)
                out["in_dist_p_gold"], out["kl_ref_in_dist"] = in_dist["p_gold"], in_dist["kl_other"]
        return out

    def step(self) -> dict[str, float]:
        """One collect + update; returns its log record (without the test)."""
        c = self.config
        t0 = time.perf_counter()
        rng = np.random.default_rng([c.seed, 1, self.iteration])
        g = c.group_size  # each problem sampled g times, its episodes side by side
        problems = [p for _ in range(c.episodes_per_collect // g) for p in [sample_rl(self.n, self.k, rng)] * g]
        gen = torch.Generator().manual_seed(c.seed * 1_000_003 + self.iteration)
        self.policy.lm.eval()
        ro = sample_episodes(self.policy.lm, problems, c.policy_temperature, gen, c.reward_correct,
                             c.reward_wrong, c.reward_mode, c.decoding)
        t1 = time.perf_counter()
        prep = self.prepare(ro)
        t2 = time.perf_counter()
        upd = self.update(ro, prep)
        t3 = time.perf_counter()
        mask = ro.action_mask
        crit = critical_step_mask(ro, self.n) & mask
        other = mask & ~crit
        tokens = int(mask.sum())
        rec = {
            "train_reward": float(ro.rewards.sum(-1).mean()),
            "train_acc": float(ro.correct.float().mean()),
            "kl": float(masked_mean(prep["kl_tok"], mask)),
            "kl_weighted": float(masked_mean(prep["weight"] * prep["kl_tok"], mask)),
            "kl_exact": float(masked_mean(prep["kl_exact"], mask)),
            "kl_exact_critical": float(prep["kl_exact"][crit].mean()) if crit.any() else float("nan"),
            "kl_exact_other": float(prep["kl_exact"][other].mean()) if other.any() else float("nan"),
            "entropy": upd["loss_entropy"],
            "episode_tokens_mean": tokens / len(problems),
            **upd,
            **quantiles(prep["weight"][crit], "w_critical"),
            **quantiles(prep["weight"][other], "w_other"),
            "time_rollout_s": t1 - t0, "time_reference_s": t2 - t1, "time_update_s": t3 - t2,
            "episodes_per_s": len(problems) / (t3 - t0), "tokens_per_s": tokens / (t3 - t0),
        }
        if c.kl == "prioritized":
            rec["weight_collapsed"] = is_collapsed(rec["w_other_p50"])
            if rec["weight_collapsed"] and not self._warned_collapse:
                self._warned_collapse = True
                warnings.warn(collapse_message(rec["w_other_p50"], c.certainty, c.certainty_temperature, c.beta),
                              WeightCollapseWarning, stacklevel=2)
        self.iteration += 1
        return rec

    def start_evaluation(self, cache: str | Path | None = None) -> dict[str, float]:
        """The evaluation before any update, read from or added to ``cache`` when given.

        It depends only on the start model and the evaluation settings (the held-out problems and the
        evaluation's random stream come from ``heldout_seed``, not the run's seed), so every run of a
        study that shares them has the same start; the cache computes it once.
        """
        if cache is None:
            return self.evaluate()
        c, path = self.config, Path(cache)
        key = start_key(c)
        stored = _read_json(path)
        if key in stored:
            return stored[key]
        rec = self.evaluate()
        stored = _read_json(path)  # another run may have written meanwhile
        stored[key] = rec
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(stored, indent=1) + "\n")
        return rec

    # ------------------------------------------------------------------ the run
    def _log(self, rec: dict) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        with open(self.out / "log.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
        if self.config.tensorboard:
            if self._tb is None:
                self._tb = ScalarWriter(self.out)
            self._tb.write(rec, rec["episodes"])

    def run(self, resume: bool = True, until: int | None = None, on_record=None,
            start_cache: str | Path | None = None) -> Path:
        """Train for ``ceil(episodes / episodes_per_collect)`` iterations; returns the final model folder.

        ``until``: stop after that iteration's checkpoint, as an interruption would. ``start_cache``: a
        JSON file shared by the runs of a study, holding the start model's evaluation
        (:meth:`start_evaluation`). The run folder is held for the whole run
        (:func:`critkl.run_folder.claim`): a folder in use by another run, or made by another command, is
        refused.
        """
        with claim(self.out, "critkl rl") as folder:
            return self._run(folder, resume, until, on_record, start_cache)

    def _run(self, folder, resume: bool, until: int | None, on_record, start_cache) -> Path:
        c = self.config
        resumed = resume and self.load_checkpoint()  # checked before anything in the folder changes
        self.out.mkdir(parents=True, exist_ok=True)
        folder.record(new=not resumed)
        write_text_atomic(self.out / "config.json", c.to_json() + "\n")
        if resumed:
            trim_log(self.out / "log.jsonl", "iteration", self.iteration)  # later ones are logged again
        else:
            (self.out / "log.jsonl").unlink(missing_ok=True)
            rec = {"iteration": 0, "episodes": 0, **self.start_evaluation(start_cache)}
            self._log(rec)
            if on_record:
                on_record(rec)
        try:
            return self._iterate(until, on_record)
        finally:
            if self._tb is not None:
                self._tb.close()
                self._tb = None

    def _iterate(self, until: int | None, on_record) -> Path:
        c = self.config
        total = math.ceil(c.episodes / c.episodes_per_collect)
        start_time = time.perf_counter()
        while self.iteration < total:
            rec = self.step()
            rec = {"iteration": self.iteration, "episodes": self.iteration * c.episodes_per_collect, **rec}
            if self.iteration % c.eval_every == 0 or self.iteration == total:
                rec.update(self.evaluate(every_problem=self.iteration == total))
            rec["wall_s"] = time.perf_counter() - start_time
            self._log(rec)
            if on_record:
                on_record(rec)
            if self.iteration % c.checkpoint_every == 0 or self.iteration == total:
                self.save_checkpoint()
            if until is not None and self.iteration >= until:
                return self.out / CHECKPOINT
        check_finite_weights(self.policy, f"iteration {self.iteration}")
        return save_model(self.policy.lm.eval(), self.tokenizer, self.out / "final",
                          training_config=asdict(c))


def train(config: RLConfig, resume: bool = True, until: int | None = None, on_record=None,
          start_cache: str | Path | None = None) -> Path:
    """Run RL fine-tuning (see :class:`Trainer`); returns the final model folder."""
    return Trainer(config).run(resume=resume, until=until, on_record=on_record, start_cache=start_cache)
