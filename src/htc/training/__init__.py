"""Training: config dataclass, resumable trainer, checkpoints."""

from htc.training.config import TrainConfig
from htc.training.trainer import Head, HTCModel, Trainer

__all__ = ["HTCModel", "Head", "TrainConfig", "Trainer"]
