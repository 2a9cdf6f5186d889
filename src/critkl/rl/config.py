"""Configuration of an RL fine-tuning run (paper Table 3 defaults; paper vs the authors' official code)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

ALGOS = ("a2c", "ppo")
KL_MODES = ("none", "standard", "prioritized")
KL_PLACEMENTS = ("loss", "reward")
VARIANTS = ("official", "paper")

# Settings where the paper and the official code differ (certainty vs Eq. 2, reward, entropy coef in Table 3).
VARIANT_SETTINGS: dict[str, dict[str, object]] = {
    "official": {"certainty": "max_prob", "certainty_temperature": 4.0, "entropy_coef": 0.001,
                 "reward_correct": 1.0, "reward_wrong": -1.0},
    "paper": {"certainty": "shannon", "certainty_temperature": 1.0, "entropy_coef": 0.0005,
              "reward_correct": 1.0, "reward_wrong": 0.0},
}


@dataclass
class RLConfig:
    """All settings of :func:`critkl.rl.train`; ``None`` fields take the ``variant``'s value.

    >>> RLConfig(variant="paper").resolved().certainty
    'shannon'
    """

    model: str = "tiny-n4"
    train_digits: int = 0  # N+k: RL problems have one operand of this many digits; 0: N+1
    pretrained_digits: int = 0  # N; 0: the model's own (config critkl_max_digits). Set it to treat a length
    # the model was trained on as "N+k", e.g. to sharpen tiny-n3 on 3 digits at a high temperature
    out_dir: str = "runs/rl"
    variant: str = "paper"  # "official" (max-prob at T=4) collapses the weight of small models
    algo: str = "a2c"
    kl: str = "prioritized"
    kl_placement: str = "loss"  # "loss" (paper, official) or "reward" (RLHF style)
    kl_estimator: str = "k2"
    alpha: float = 5.0
    beta: float = 150.0
    weight_slope: float = 1.0
    weight_intercept: float = 0.0
    certainty: str | None = None
    certainty_temperature: float | None = None
    policy_temperature: float = 2.0
    lr: float = 1e-6
    adam_eps: float = 1e-8  # Adam's ε; larger values damp the sign-like steps on near-zero gradients
    trainable: str = ""  # regex on LM parameter names: only matching ones are trained ("" or ".": all)
    episodes: int = 400  # training episodes in total (official §5.3 config: 8 collects × 50)
    episodes_per_collect: int = 50
    minibatch_episodes: int = 10  # episodes per Adam step (the official code uses transition minibatches)
    test_episodes: int = 100
    in_dist_episodes: int = 20
    heldout_seed: int = 0  # the held-out problems and the evaluation's sampling stream (not the run's seed)
    value_coef: float = 0.1
    entropy_coef: float | None = None
    gamma: float = 1.0
    gae_lambda: float = 0.95
    reward_correct: float | None = None
    reward_wrong: float | None = None
    reward_mode: str = "outcome"  # "outcome" (paper) or "prefix" (partial credit for the correct prefix)
    value_hidden: int = 0  # 0: 128 · n_embd / 768 (the official 768→128→128→1 scaled)
    ppo_epochs: int = 4
    ppo_clip: float = 0.2
    normalize_advantages: bool = False
    decoding: str = "dynamic"  # rollout loop: dynamic (CPU), static or cuda_graph (GPU; critkl.static_decoding)
    max_grad_norm: float = 0.0  # 0: no clipping (official)
    eval_greedy: bool = True
    eval_every: int = 1
    checkpoint_every: int = 1
    seed: int = 0
    threads: int = 0
    tensorboard: bool = False

    def resolved(self) -> RLConfig:
        """A copy with the variant's values filled in and every field validated."""
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        values = asdict(self)
        for k, v in VARIANT_SETTINGS[self.variant].items():
            if values[k] is None:
                values[k] = v
        out = RLConfig(**values)
        out.validate()
        return out

    def validate(self) -> None:
        checks = [
            ("algo", self.algo in ALGOS, f"one of {ALGOS}"),
            ("kl", self.kl in KL_MODES, f"one of {KL_MODES}"),
            ("kl_placement", self.kl_placement in KL_PLACEMENTS, f"one of {KL_PLACEMENTS}"),
            ("kl_estimator", self.kl_estimator in ("k1", "k2", "k3"), "k1, k2 or k3"),
            ("reward_mode", self.reward_mode in ("outcome", "prefix"), "outcome or prefix"),
            ("decoding", self.decoding in ("dynamic", "static", "cuda_graph"), "dynamic, static or cuda_graph"),
            ("certainty", self.certainty in ("shannon", "max_prob"), "shannon or max_prob"),
            ("certainty_temperature", (self.certainty_temperature or 0) > 0, "> 0"),
            ("policy_temperature", self.policy_temperature > 0, "> 0"),
            ("alpha", self.alpha >= 0, ">= 0"),
            ("beta", self.beta >= 0, ">= 0"),
            ("lr", self.lr > 0, "> 0"),
            ("adam_eps", self.adam_eps > 0, "> 0"),
            ("train_digits", isinstance(self.train_digits, int) and (self.train_digits >= 2
                                                                     or self.train_digits == 0),
             "an int >= 2, or 0 for N+1"),
            ("pretrained_digits", isinstance(self.pretrained_digits, int) and self.pretrained_digits >= 0,
             "an int >= 0"),
            ("episodes", self.episodes >= 0, ">= 0"),
            ("episodes_per_collect", self.episodes_per_collect >= 1, ">= 1"),
            ("minibatch_episodes", self.minibatch_episodes >= 1, ">= 1"),
            ("test_episodes", self.test_episodes >= 1, ">= 1"),
            ("in_dist_episodes", self.in_dist_episodes >= 0, ">= 0"),
            ("gae_lambda", 0 <= self.gae_lambda <= 1, "in [0, 1]"),
            ("gamma", 0 <= self.gamma <= 1, "in [0, 1]"),
            ("ppo_epochs", self.ppo_epochs >= 1, ">= 1"),
            ("ppo_clip", self.ppo_clip > 0, "> 0"),
            ("eval_every", self.eval_every >= 1, ">= 1"),
            ("checkpoint_every", self.checkpoint_every >= 1, ">= 1"),
        ]
        try:
            re.compile(self.trainable)
        except (re.error, TypeError) as e:
            raise ValueError(f"trainable must be a regular expression on parameter names, got "
                             f"{self.trainable!r}: {e}") from e
        for name, ok, want in checks:
            if not ok:
                raise ValueError(f"{name} must be {want}, got {getattr(self, name)!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: object) -> RLConfig:
        """Read a JSON config file; unknown keys are an error naming them."""
        data = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"config file {path}: unknown keys {unknown}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)


def config_diff(stored: dict, wanted: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """The fields (sorted) whose values differ between two config dicts, ``ignore`` left out.

    >>> config_diff({"lr": 1e-4, "seed": 0}, {"lr": 3e-5, "seed": 0})
    ['lr']
    """
    return sorted(k for k in set(stored) | set(wanted) if k not in ignore and stored.get(k) != wanted.get(k))

