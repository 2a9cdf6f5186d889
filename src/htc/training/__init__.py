"""Training: config dataclass, resumable trainer, checkpoints (the extra ``htc[train]``)."""

import htc._train_deps  # noqa: F401  (first: without torch, one line naming the extra)
from htc.training.config import TrainConfig
from htc.training.trainer import Head, HTCModel, Trainer

__all__ = ["HTCModel", "Head", "TrainConfig", "Trainer"]
