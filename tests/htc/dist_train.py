"""Run by tests/htc/test_distributed.py: ``htc train`` with its arguments, then each process's
final weights and history (``OUT/rank{RANK}.pt``), so that the test can compare processes.

Launched with ``accelerate launch --multi_gpu --num_processes 2`` (two CPU processes) or plain
``python`` (one process): ``python tests/htc/dist_train.py train --data D --config C --out OUT``.
"""

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    import torch

    import htc.training
    from htc.cli import app

    trainers = []

    class Recorded(htc.training.Trainer):
        def fit(self, *args, **kwargs):
            trainers.append(self)
            return super().fit(*args, **kwargs)

    htc.training.Trainer = Recorded  # what `htc train` imports
    code = app(argv, standalone_mode=False)
    if code:  # a refused argument (already reported on stderr)
        sys.exit(code)
    (trainer,) = trainers
    out = Path(argv[argv.index("--out") + 1])
    rank = int(os.environ.get("RANK", "0"))
    history = [{k: v for k, v in r.items() if k != "seconds"} for r in trainer.history]
    torch.save({"weights": trainer.model.state_dict(), "history": history,
                "world": int(os.environ.get("WORLD_SIZE", "1"))}, out / f"rank{rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1:])
