"""The run folder shared by ``critkl pretrain`` and ``critkl rl``.

Every run folder holds ``config.json`` (the run's settings), ``log.jsonl`` (one JSON record per
logged step), ``tensorboard/`` (the same scalars, with ``--tensorboard``), a checkpoint written
atomically (a temporary name, then a rename: an interruption leaves the previous one intact) and,
at the end, ``final/`` (a model folder for :func:`critkl.load_model` and ``from_pretrained``).
"""

from __future__ import annotations

import json
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


def trim_log(path: Path, key: str, last: int) -> None:
    """Keep the records of a ``log.jsonl`` up to ``record[key] == last`` (the step or iteration of the
    checkpoint a run resumes from, which logs the rest again) and drop a line an interruption cut short;
    rewritten atomically. A missing file is left missing.

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> _ = p.write_text('{"step": 1}\\n{"step": 2}\\n{"step": 3}\\n{"st')
    >>> trim_log(p, "step", 2); p.read_text()
    '{"step": 1}\\n{"step": 2}\\n'
    """
    path = Path(path)
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get(key, 0), (int, float)) and record.get(key, 0) <= last:
            kept.append(line + "\n")
    write_text_atomic(path, "".join(kept))


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
