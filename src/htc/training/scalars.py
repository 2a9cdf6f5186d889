"""TensorBoard scalars of a training run, in ``OUT/tensorboard/`` (the extra ``htc[tensorboard]``)."""

from __future__ import annotations

import math
from pathlib import Path

TENSORBOARD_DIR = "tensorboard"


class ScalarWriter:
    """Write the numeric, finite values of each epoch record as TensorBoard scalars.

    >>> w = ScalarWriter("runs/example")  # doctest: +SKIP
    >>> w.write({"train_loss": 0.5, "dev_h_micro_f": 0.61}, step=1); w.close()  # doctest: +SKIP
    """

    def __init__(self, out: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError("tensorboard=True needs the tensorboard package: pip install "
                              "'htc[tensorboard]'") from None
        self._writer = SummaryWriter(str(Path(out) / TENSORBOARD_DIR))

    def write(self, record: dict, step: int) -> None:
        for key, value in record.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or key == "epoch":
                continue
            if math.isfinite(value):
                self._writer.add_scalar(key, value, step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
