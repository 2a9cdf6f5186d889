"""RL fine-tuning with standard or prioritized KL: A2C (paper, official code) and PPO."""

from .a2c import a2c_loss
from .advantage import gae
from .config import RLConfig
from .losses import LossTerms, entropy_of, weighted_kl
from .policy import ActorCritic
from .ppo import ppo_loss
from .trainer import Trainer, train

__all__ = ["ActorCritic", "LossTerms", "RLConfig", "Trainer", "a2c_loss", "entropy_of", "gae",
           "ppo_loss", "train", "weighted_kl"]
