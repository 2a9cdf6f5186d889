"""The run folder shared by ``critkl pretrain`` and ``critkl rl``.

Every run folder holds ``config.json`` (the run's settings), ``log.jsonl`` (one JSON record per
logged step), ``tensorboard/`` (the same scalars, with ``--tensorboard``), a checkpoint written
atomically (a temporary name, then a rename: an interruption leaves the previous one intact) and,
at the end, ``final/`` (a model folder for :func:`critkl.load_model` and ``from_pretrained``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

TENSORBOARD_DIR = "tensorboard"


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "config.json"
    >>> write_text_atomic(p, "{}\\n"); p.read_text()
    '{}\\n'
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class ScalarWriter:
    """TensorBoard scalars in ``out/tensorboard/`` (needs ``critkl[tensorboard]``).

    Non-numeric and non-finite values of a record are skipped.

    >>> w = ScalarWriter("runs/example")  # doctest: +SKIP
    >>> w.write({"loss": 0.5, "step": 10}, step=10); w.close()  # doctest: +SKIP
    """

    def __init__(self, out: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError("--tensorboard needs the tensorboard package: pip install "
                              "'critkl[tensorboard]'") from None
        self._writer = SummaryWriter(str(Path(out) / TENSORBOARD_DIR))

    def write(self, record: dict, step: int, skip: tuple[str, ...] = ()) -> None:
        for key, value in record.items():
            if key in skip or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if math.isfinite(value):
                self._writer.add_scalar(key, value, step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
