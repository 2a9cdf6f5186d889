"""Training configuration: :class:`htc.train_config.TrainConfig`, which lives outside
``htc.training`` so that the command line reads its fields without torch."""

from htc.train_config import TrainConfig

__all__ = ["TrainConfig"]
