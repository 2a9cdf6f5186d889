"""RL fine-tuning with standard or prioritized KL: A2C (paper, official code) and PPO."""

from importlib import import_module

from .config import RLConfig  # light: the command line builds ``critkl rl`` from it without torch

_LAZY = {
    ".a2c": ("a2c_loss",),
    ".advantage": ("gae",),
    ".losses": ("LossTerms", "entropy_of", "weighted_kl"),
    ".policy": ("ActorCritic",),
    ".ppo": ("ppo_loss",),
    ".trainer": ("Trainer", "train"),
}
_SOURCE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
    if name in _SOURCE:
        value = getattr(import_module(_SOURCE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SOURCE))


__all__ = ["ActorCritic", "LossTerms", "RLConfig", "Trainer", "a2c_loss", "entropy_of", "gae",
           "ppo_loss", "train", "weighted_kl"]
