"""``critkl rl``: RL fine-tuning from the command line, generated from :class:`RLConfig` (registered on the
``critkl`` typer app). Every RLConfig field is an option; torch is imported only when the command runs."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..cli_adapter import config_command, fail
from .config import RLConfig


def _rl(
    config: RLConfig,
    resume: bool = typer.Option(False, "--resume/--no-resume",
                                help="Continue from OUT/checkpoint.pt (the same settings); without it, a "
                                     "folder that holds a checkpoint is refused."),
    until: int = typer.Option(0, help="Stop after this iteration's checkpoint (0: run to the end)."),
) -> None:
    """RL fine-tuning (A2C/PPO) with no, standard or prioritized KL; one JSON line per update."""
    checkpoint = Path(config.out_dir) / "checkpoint.pt"
    if not resume and checkpoint.is_file():
        fail(f"{checkpoint} holds an earlier run: add --resume to continue it, or give another --out "
             "(or delete the folder) to start afresh")
    from .trainer import train

    final = train(config, resume=resume, until=until or None,
                  on_record=lambda r: typer.echo(json.dumps({k: round(v, 5) if isinstance(v, float) else v
                                                             for k, v in r.items()})))
    typer.echo(f"{'checkpoint' if until else 'final model'}: {final}")


rl = config_command(RLConfig, _rl)
