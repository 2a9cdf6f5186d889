"""The ``critkl`` command line: pretrain, eval-length, certainty."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


@app.callback()
def main() -> None:
    """Scratchpad-addition testbed: pre-training, length generalization, certainty."""


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(2)


@app.command()
def pretrain(
    max_digits: int = typer.Option(..., "--max-digits", "-n", help="Train on operands of 1..N digits."),
    size: str = typer.Option("tiny", help="Model size: tiny, small or paper."),
    out_dir: Path = typer.Option(Path("runs/pretrain"), help="Run folder (checkpoint/, final/, log.jsonl)."),
    steps: int = typer.Option(3000, help="Optimizer steps."),
    batch_size: int = typer.Option(64),
    lr: float = typer.Option(3e-3, help="Peak learning rate."),
    warmup_steps: int = typer.Option(100),
    min_lr_ratio: float = typer.Option(0.05, help="Final lr as a fraction of the peak (cosine)."),
    weight_decay: float = typer.Option(0.1),
    dropout: float = typer.Option(0.0),
    seed: int = typer.Option(0),
    eval_every: int = typer.Option(500, help="Greedy in-distribution accuracy every k steps."),
    checkpoint_every: int = typer.Option(250),
    log_every: int = typer.Option(25),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    threads: int = typer.Option(0, help="torch CPU threads (0: torch default)."),
    resume: bool = typer.Option(True, help="Continue from out_dir/checkpoint when present."),
    export: Path = typer.Option(None, help="Also copy the final model to this folder."),
) -> None:
    """Pre-train a character GPT-2 on scratchpad additions of 1..N digits."""
    from .model import load_model, save_model
    from .pretrain import PretrainConfig
    from .pretrain import pretrain as run

    config = PretrainConfig(
        max_digits=max_digits, size=size, out_dir=str(out_dir), steps=steps, batch_size=batch_size,
        lr=lr, warmup_steps=warmup_steps, min_lr_ratio=min_lr_ratio, weight_decay=weight_decay,
        dropout=dropout, seed=seed, eval_every=eval_every, checkpoint_every=checkpoint_every,
        log_every=log_every, device=device, threads=threads or None,
    )
    try:
        final = run(config, resume=resume)
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(f"final model: {final}")
    if export is not None:
        model, tok = load_model(final)
        import json

        save_model(model, tok, export, json.loads((final / "training_config.json").read_text()))
        typer.echo(f"exported to: {export}")


if __name__ == "__main__":  # pragma: no cover
    app()
