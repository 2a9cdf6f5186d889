"""Configuration of an RL fine-tuning run: the defaults are a recipe that learns on the shipped tiny models,
:data:`PRESETS` ``["paper"]`` restores the paper's Table 3 settings; paper vs the authors' official code."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import ClassVar

from ..configbase import Config, setting
from ..configbase import config_diff as config_diff  # where critkl.study.runner reads it

ALGOS = ("a2c", "ppo")
ADVANTAGES = ("gae", "group")
KL_MODES = ("none", "standard", "prioritized")
KL_PLACEMENTS = ("loss", "reward")
VARIANTS = ("official", "paper")
# Fields a resumed run may change: where and how fast it runs, and whether TensorBoard is written. Any
# other difference from the checkpoint's config stops the resume (a run is one config).
RESUME_MAY_DIFFER = ("out_dir", "threads", "tensorboard")

# Settings where the paper and the official code differ (certainty vs Eq. 2, reward, entropy coef in Table 3).
VARIANT_SETTINGS: dict[str, dict[str, object]] = {
    "official": {"certainty": "max_prob", "certainty_temperature": 4.0, "entropy_coef": 0.001,
                 "reward_correct": 1.0, "reward_wrong": -1.0},
    "paper": {"certainty": "shannon", "certainty_temperature": 1.0, "entropy_coef": 0.0005,
              "reward_correct": 1.0, "reward_wrong": 0.0},
}

# Named sets of settings under the command line's own (``critkl rl --preset NAME``). "recipe" is RLConfig's
# defaults: on the shipped tiny-n4 (5-digit problems) it raises held-out p(gold) and sampled accuracy above
# the start in every seed of the regime pilot (docs/critkl-results.md, "A regime where RL learns"): a
# critic-free group baseline (RLOO, 4 episodes per problem), Adam lr 3e-5 with ε 1e-3, policy temperature
# 1, the prioritized KL at α 0.1. "paper" is the paper's Table 3 (A2C with a learned critic, lr 1e-6,
# temperature 2, α 5, 8 collects of 50): on a tiny model it does not learn (the same page).
DEFAULT_GROUP_SIZE = 4
PRESETS: dict[str, dict[str, object]] = {
    "recipe": {},
    "paper": {"alpha": 5.0, "policy_temperature": 2.0, "lr": 1e-6, "adam_eps": 1e-8, "advantage": "gae",
              "episodes": 400, "episodes_per_collect": 50, "minibatch_episodes": 10,
              "test_episodes": 100, "in_dist_episodes": 20, "eval_every": 1, "eval_greedy": True},
}


@dataclass
class RLConfig(Config):
    """All settings of :func:`critkl.rl.train`; ``None`` fields take the ``variant``'s value.

    Every field is a ``critkl rl`` option (``--field-name``, help from its metadata) and a key of the
    ``--config`` JSON file; the values are checked on construction (a ``ValueError`` names the field).

    >>> RLConfig(variant="paper").resolved().certainty
    'shannon'
    >>> RLConfig(**PRESETS["paper"]).lr
    1e-06
    """

    # What a field absent from a config.json written before the field existed stands for: the behaviour
    # those runs had (not today's default), so that reading them back compares like with like.
    ABSENT_MEANS: ClassVar[dict[str, object]] = {
        "advantage": "gae", "group_size": 1, "weight_shuffle": False, "ppo_clip_high": 0.0,
        "top_entropy_quantile": 1.0, "sampled_test_episodes": 0}

    model: str = setting("tiny-n4", "Start model (and KL reference): a model folder or a shipped name "
                         "(tiny-n4, tiny-n3).")
    train_digits: int = setting(0, "N+k: digits of one operand of the RL problems (0: N+1).", short="-d")
    pretrained_digits: int = setting(
        0, "N, the pre-training length (0: the model's own, config critkl_max_digits). Set it to treat a "
        "length the model was trained on as N+k, e.g. to sharpen tiny-n3 on 3 digits.")
    out_dir: str = setting("runs/rl", "Run folder: config.json, log.jsonl, checkpoint.pt, final/.",
                           option="--out", aliases=("--out-dir",))
    variant: str = setting("paper", "paper (Shannon certainty at T=1, reward 1/0, c_ent 0.0005) or official "
                           "(max-prob certainty at T=4, ±1, 0.001; its weight collapses to ≈0 on small "
                           "models): fills certainty, certainty_temperature, entropy_coef and the rewards "
                           "left unset.")
    algo: str = setting("a2c", "a2c or ppo.")
    kl: str = setting("prioritized", "none, standard or prioritized.")
    kl_placement: str = setting("loss", "loss (paper, official code) or reward (RLHF style).")
    kl_estimator: str = setting("k2", "k1, k2 (paper) or k3.")
    alpha: float = setting(0.1, "KL coefficient α (the paper's Table 3: 5, --preset paper).")
    beta: float = setting(150.0, "Prioritized-KL exponent β (paper); `critkl calibrate MODEL` fits one to "
                          "the model.")
    weight_shuffle: bool = setting(False, "Permute the KL weights at random across the generated tokens of "
                                   "each collect: the same weights (distribution and mean), no longer aligned "
                                   "with the tokens they were computed for (a mechanism control).")
    weight_slope: float = setting(1.0, "w = slope · J^β + intercept.")
    weight_intercept: float = setting(0.0, "w = slope · J^β + intercept.")
    certainty: str | None = setting(None, "shannon or max_prob (unset: from --variant).")
    certainty_temperature: float | None = setting(
        None, "Temperature of the reference for the certainty (unset: from --variant).")
    policy_temperature: float = setting(1.0, "Sampling and KL temperature (the paper: 2).")
    lr: float = setting(3e-5, "Adam learning rate (the paper: 1e-6, for 85M parameters).")
    adam_eps: float = setting(1e-3, "Adam's epsilon; larger values damp the sign-like steps on near-zero "
                              "gradients (the paper: PyTorch's 1e-8).")
    trainable: str = setting("", "Regex on LM parameter names: train only those, e.g. 'ln_' (LayerNorms); "
                             "'' or '.': all.")
    episodes: int = setting(960, "Training episodes in total (the official §5.3 config: 8 collects × 50).")
    episodes_per_collect: int = setting(32, "Episodes sampled per iteration (the official code: 50).")
    minibatch_episodes: int = setting(8, "Episodes per Adam step (the official code: 10, in transition "
                                      "minibatches).")
    test_episodes: int = setting(256, "Held-out N+k test problems, fixed by --heldout-seed.")
    sampled_test_episodes: int = setting(0, "Held-out problems whose sampled accuracy is measured at the "
                                         "evaluations between the first and the last (0: all of them); the "
                                         "start and the last evaluation always sample every held-out problem, "
                                         "and p(gold) is always exact on all.")
    in_dist_episodes: int = setting(64, "In-distribution (1..N) test episodes.")
    heldout_seed: int = setting(0, "Seed of the held-out problems and of the evaluation's sampling, the "
                                "same for every run (not the run's --seed).")
    advantage: str = setting("group", "gae (a learned critic, GAE; the paper's A2C/PPO) or group (critic-free: "
                             "each problem is sampled --group-size times per collect and an episode's "
                             "advantage is its return minus the mean return of the other episodes of its "
                             "problem, RLOO; the value head is not trained).")
    group_size: int = setting(0, "Episodes per problem in a collect (--advantage group needs >= 2; "
                              "--episodes-per-collect must be a multiple; 0: 4 with group, 1 with gae).")
    value_coef: float = setting(0.1, "Value-loss coefficient.")
    entropy_coef: float | None = setting(None, "Entropy-bonus coefficient (unset: from --variant).")
    gamma: float = setting(1.0, "Discount.")
    gae_lambda: float = setting(0.95, "GAE λ.")
    reward_correct: float | None = setting(None, "Reward of a correct answer (unset: from --variant).")
    reward_wrong: float | None = setting(None, "Reward of a wrong answer (unset: from --variant).")
    reward_mode: str = setting("outcome", "outcome (paper: result line only) or prefix (partial credit for "
                               "the correct prefix of the scratchpad).")
    value_hidden: int = setting(0, "Hidden width of the value head (0: 128 · n_embd / 768, the official "
                                "768→128→128→1 scaled).")
    ppo_epochs: int = setting(4, "PPO passes over each collect.")
    ppo_clip: float = setting(0.2, "PPO ratio clip.")
    ppo_clip_high: float = setting(0.0, "PPO upper ratio clip ('clip-higher', TRL's epsilon_high; 0: the same "
                                   "as --ppo-clip).")
    top_entropy_quantile: float = setting(1.0, "Policy gradient only on the generated tokens whose policy "
                                          "entropy is in this top fraction of the collect (TRL's "
                                          "top_entropy_quantile; 1: every token).")
    normalize_advantages: bool = setting(False, "Scale each collect's advantages to mean 0, std 1 (not in "
                                         "the paper).")
    decoding: str = setting("dynamic", "Rollout loop: dynamic (CPU), static or cuda_graph (GPU; "
                            "critkl.static_decoding).")
    max_grad_norm: float = setting(0.0, "Gradient clipping norm (0: none, as the official code).")
    eval_greedy: bool = setting(False, "Also test greedy decoding.")
    eval_every: int = setting(10, "Test every k iterations.")
    checkpoint_every: int = setting(1, "Checkpoint every k iterations.")
    seed: int = setting(0, "Seed; on CPU it fully determines the run.")
    threads: int = setting(0, "torch CPU threads (0: torch's default).")
    tensorboard: bool = setting(False, "Also write the logged scalars to OUT/tensorboard/ (needs "
                                "critkl[tensorboard]).")

    def resolved(self) -> RLConfig:
        """A copy with the variant's values and the group size filled in (validated on construction)."""
        values = asdict(self)
        for k, v in VARIANT_SETTINGS[self.variant].items():
            if values[k] is None:
                values[k] = v
        values["group_size"] = self.effective_group_size
        return type(self)(**values)

    @property
    def effective_group_size(self) -> int:
        """``group_size``, or its default when 0: 4 with the group baseline, 1 with a critic."""
        return self.group_size or (DEFAULT_GROUP_SIZE if self.advantage == "group" else 1)

    def validate(self) -> None:
        checks = [
            ("variant", self.variant in VARIANTS, f"one of {VARIANTS}"),
            ("algo", self.algo in ALGOS, f"one of {ALGOS}"),
            ("kl", self.kl in KL_MODES, f"one of {KL_MODES}"),
            ("kl_placement", self.kl_placement in KL_PLACEMENTS, f"one of {KL_PLACEMENTS}"),
            ("kl_estimator", self.kl_estimator in ("k1", "k2", "k3"), "k1, k2 or k3"),
            ("reward_mode", self.reward_mode in ("outcome", "prefix"), "outcome or prefix"),
            ("advantage", self.advantage in ADVANTAGES, f"one of {ADVANTAGES}"),
            ("group_size", self.group_size == 0 or self.group_size >= (2 if self.advantage == "group" else 1),
             "0 or >= 2 with --advantage group (a baseline needs other episodes of the same problem)"
             if self.advantage == "group" else ">= 0"),
            ("episodes_per_collect",
             self.group_size < 0 or self.episodes_per_collect % max(1, self.effective_group_size) == 0,
             f"a multiple of the group size ({self.effective_group_size})"),
            ("decoding", self.decoding in ("dynamic", "static", "cuda_graph"), "dynamic, static or cuda_graph"),
            ("certainty", self.certainty in (None, "shannon", "max_prob"), "shannon or max_prob"),
            ("certainty_temperature", self.certainty_temperature is None or self.certainty_temperature > 0,
             "> 0"),
            ("policy_temperature", self.policy_temperature > 0, "> 0"),
            ("alpha", self.alpha >= 0, ">= 0"),
            ("beta", self.beta >= 0, ">= 0"),
            ("weight_slope", self.weight_slope >= 0, ">= 0 (a negative weight pushes the policy away from "
             "the reference)"),
            ("weight_intercept", self.weight_intercept >= 0, ">= 0 (a negative weight pushes the policy away "
             "from the reference)"),
            ("lr", self.lr > 0, "> 0"),
            ("adam_eps", self.adam_eps > 0, "> 0"),
            ("train_digits", self.train_digits >= 2 or self.train_digits == 0, "an int >= 2, or 0 for N+1"),
            ("pretrained_digits", self.pretrained_digits >= 0, "an int >= 0"),
            ("episodes", self.episodes >= 0, ">= 0"),
            ("episodes_per_collect", self.episodes_per_collect >= 1, ">= 1"),
            ("minibatch_episodes", self.minibatch_episodes >= 1, ">= 1"),
            ("test_episodes", self.test_episodes >= 1, ">= 1"),
            ("in_dist_episodes", self.in_dist_episodes >= 0, ">= 0"),
            ("sampled_test_episodes", 0 <= self.sampled_test_episodes <= self.test_episodes,
             f"in [0, test_episodes={self.test_episodes}]"),
            ("gae_lambda", 0 <= self.gae_lambda <= 1, "in [0, 1]"),
            ("gamma", 0 <= self.gamma <= 1, "in [0, 1]"),
            ("value_hidden", self.value_hidden >= 0, ">= 0"),
            ("ppo_epochs", self.ppo_epochs >= 1, ">= 1"),
            ("ppo_clip", self.ppo_clip > 0, "> 0"),
            ("ppo_clip_high", self.ppo_clip_high >= 0, ">= 0"),
            ("top_entropy_quantile", 0 < self.top_entropy_quantile <= 1, "in (0, 1]"),
            ("max_grad_norm", self.max_grad_norm >= 0, ">= 0"),
            ("eval_every", self.eval_every >= 1, ">= 1"),
            ("checkpoint_every", self.checkpoint_every >= 1, ">= 1"),
            ("threads", self.threads >= 0, ">= 0"),
        ]
        for name, ok, want in checks:
            if not ok:
                raise ValueError(f"{name} must be {want}, got {getattr(self, name)!r}")
        try:
            re.compile(self.trainable)
        except re.error as e:
            raise ValueError(f"trainable must be a regular expression on parameter names, got "
                             f"{self.trainable!r}: {e}") from e


# Thread-seconds per training episode and per evaluated problem of a shipped tiny model (5-digit problems at
# policy temperature 1), fitted to the demo's runs on a 2-core machine: rough, and slower at temperatures
# where outputs run to their length budget, on a busy machine, or with larger models.
TINY_EPISODE_S, TINY_EVAL_S = 0.3, 0.06


def rough_seconds(config: RLConfig, threads: int = 1) -> float | None:
    """A rough time for a run of a shipped ``tiny-`` model on ``threads`` CPU threads; ``None`` for other models.

    >>> round(rough_seconds(RLConfig(model="tiny-n4", episodes=960, episodes_per_collect=32, eval_every=5,
    ...                              test_episodes=256, in_dist_episodes=64)))
    422
    """
    if not str(config.model).startswith("tiny-"):
        return None
    collects = -(-config.episodes // config.episodes_per_collect)
    evals = 1 + collects // config.eval_every + (collects % config.eval_every > 0)
    return (collects * config.episodes_per_collect * TINY_EPISODE_S
            + evals * (config.test_episodes + config.in_dist_episodes) * TINY_EVAL_S) / max(threads, 1)
