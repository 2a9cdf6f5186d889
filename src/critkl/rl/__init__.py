"""RL fine-tuning with standard or prioritized KL: A2C (paper, official code) and PPO."""

from .._lazy import lazy_exports
from .config import RLConfig  # light: the command line builds ``critkl rl`` from it without torch

_LAZY = {
    ".a2c": ("a2c_loss",),
    ".advantage": ("gae", "group_advantages"),
    ".losses": ("LossTerms", "entropy_of", "weighted_kl"),
    ".policy": ("ActorCritic",),
    ".ppo": ("ppo_loss",),
    ".trainer": ("Trainer", "train"),
}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = ["ActorCritic", "LossTerms", "RLConfig", "Trainer", "a2c_loss", "entropy_of", "gae", "group_advantages",
           "ppo_loss", "train", "weighted_kl"]
