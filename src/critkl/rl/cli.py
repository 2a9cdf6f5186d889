"""``critkl rl``: RL fine-tuning from the command line (registered on the ``critkl`` typer app)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .config import RLConfig


def rl(
    model: str = typer.Option("tiny-n4", help="Model folder or shipped name (tiny-n4, tiny-n3)."),
    train_digits: int = typer.Option(None, "--train-digits", "-d", help="N+k: digits of the RL problems [N+1]."),
    pretrained_digits: int = typer.Option(None, help="N, the pre-training length (0: the model's own) [0]."),
    kl: str = typer.Option(None, help="none, standard or prioritized [prioritized]."),
    alpha: float = typer.Option(None, help="KL coefficient α [5, paper Table 3]."),
    beta: float = typer.Option(None, help="Prioritized-KL exponent β [150, paper]; `critkl calibrate MODEL` fits one to the model."),
    algo: str = typer.Option(None, help="a2c or ppo [a2c]."),
    episodes: int = typer.Option(None, help="Training episodes in total [400]."),
    seed: int = typer.Option(None, help="Seed; on CPU it fully determines the run [0]."),
    config: Path = typer.Option(None, "--config", help="JSON file with any RLConfig fields (flags override it)."),
    variant: str = typer.Option(None, help="paper (Shannon certainty at T=1, reward 1/0, c_ent 0.0005) [default] or official (max-prob certainty at T=4, ±1, 0.001; its weight collapses to ≈0 on small models)."),
    kl_placement: str = typer.Option(None, help="loss (paper/official) or reward (RLHF style)."),
    kl_estimator: str = typer.Option(None, help="k1, k2 (paper) or k3."),
    certainty: str = typer.Option(None, help="shannon or max_prob [from --variant]."),
    certainty_temperature: float = typer.Option(None, help="Temperature of the reference for the certainty [from --variant]."),
    policy_temperature: float = typer.Option(None, help="Sampling and KL temperature [2]."),
    weight_slope: float = typer.Option(None, help="w = slope·J^β + intercept [1]."),
    weight_intercept: float = typer.Option(None, help="[0]"),
    lr: float = typer.Option(None, help="Adam learning rate [1e-6, paper; tiny models need more]."),
    adam_eps: float = typer.Option(None, help="Adam's epsilon [1e-8]."),
    trainable: str = typer.Option(None, help="Regex on LM parameter names: train only those, e.g. 'ln_' (LayerNorms) [all]."),
    episodes_per_collect: int = typer.Option(None, help="[50]"),
    minibatch_episodes: int = typer.Option(None, help="Episodes per Adam step [10]."),
    test_episodes: int = typer.Option(None, help="Held-out N+k test problems, fixed by --heldout-seed [100]."),
    in_dist_episodes: int = typer.Option(None, help="In-distribution (1..N) test episodes [20]."),
    heldout_seed: int = typer.Option(None, help="Seed of the held-out problems and of the evaluation's sampling, the same for every run [0]."),
    entropy_coef: float = typer.Option(None, help="[from --variant]"),
    reward_mode: str = typer.Option(None, help="outcome (paper: result line only) or prefix (partial credit for the correct prefix of the scratchpad) [outcome]."),
    normalize_advantages: bool = typer.Option(
        None, "--normalize-advantages/--no-normalize-advantages",
        help="Scale each collect's advantages to mean 0, std 1 (not in the paper) [off]."),
    decoding: str = typer.Option(None, help="Rollout loop: dynamic (CPU), static or cuda_graph (GPU) [dynamic]."),
    value_coef: float = typer.Option(None, help="[0.1]"),
    gae_lambda: float = typer.Option(None, help="[0.95]"),
    ppo_epochs: int = typer.Option(None, help="[4]"),
    ppo_clip: float = typer.Option(None, help="[0.2]"),
    eval_every: int = typer.Option(None, help="Test every k iterations [1]."),
    out_dir: Path = typer.Option(None, help="Run folder: log.jsonl, checkpoint.pt, final/ [runs/rl]."),
    threads: int = typer.Option(None, help="torch CPU threads (0: default)."),
    tensorboard: bool = typer.Option(None, "--tensorboard/--no-tensorboard", help="Also write TensorBoard scalars."),
    resume: bool = typer.Option(True, help="Continue from out_dir/checkpoint.pt when present."),
    until: int = typer.Option(0, help="Stop after this iteration's checkpoint (0: run to the end)."),
) -> None:
    """RL fine-tuning (A2C/PPO) with no, standard or prioritized KL; one JSON line per update."""
    from .trainer import train

    flags = {k: v for k, v in locals().items() if k not in ("config", "resume", "until", "train")}
    flags = {k: (str(v) if isinstance(v, Path) else v) for k, v in flags.items() if v is not None}
    try:
        cfg = RLConfig.from_file(config, **flags) if config else RLConfig(**flags)
        cfg.resolved()
        final = train(cfg, resume=resume, until=until or None,
                      on_record=lambda r: typer.echo(json.dumps({k: round(v, 5) if isinstance(v, float) else v
                                                                 for k, v in r.items()})))
    except (ValueError, FileNotFoundError) as e:
        typer.secho(f"error: {e}", err=True, fg="red")
        raise typer.Exit(2) from e
    typer.echo(f"{'checkpoint' if until else 'final model'}: {final}")
