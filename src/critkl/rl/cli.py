"""``critkl rl``: RL fine-tuning from the command line, generated from :class:`RLConfig` (registered on the
``critkl`` typer app). Every RLConfig field is an option; torch is imported only when the command runs."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from ..cli_adapter import config_command, fail
from .config import PRESETS, RLConfig, rough_seconds


def evaluation_line(rec: dict, total: int, times: str) -> str:
    """One short line per evaluation: episode, reward, accuracies, KL, elapsed time and ETA.

    >>> evaluation_line({"episodes": 64, "train_reward": 0.25, "train_acc": 0.25, "kl": 0.0012,
    ...                  "heldout_acc_sampled": 0.125, "heldout_p_gold": 0.08}, 960, "10s elapsed")
    'episode 64/960 · reward 0.250 · train acc 0.250 · held-out acc 0.125, p(gold) 0.080 · KL 0.0012 · 10s elapsed'
    """
    parts = [f"episode {rec['episodes']:,}/{total:,}" if rec["episodes"] else "start model"]
    if "train_reward" in rec:
        parts.append(f"reward {rec['train_reward']:.3f} · train acc {rec['train_acc']:.3f}")
    parts.append(f"held-out acc {rec['heldout_acc_sampled']:.3f}"
                 + (f", p(gold) {rec['heldout_p_gold']:.3f}" if "heldout_p_gold" in rec else ""))
    if "in_dist_acc_sampled" in rec:
        parts.append(f"in-dist acc {rec['in_dist_acc_sampled']:.3f}")
    if "kl" in rec:
        parts.append(f"KL {rec['kl']:.2g}")
    return " · ".join(parts + [times])


def _rl(
    config: RLConfig,
    resume: bool = typer.Option(False, "--resume/--no-resume",
                                help="Continue from OUT/checkpoint.pt (the same settings); without it, a "
                                     "folder that holds a checkpoint is refused."),
    until: int = typer.Option(0, help="Stop after this iteration's checkpoint (0: run to the end)."),
) -> None:
    """RL fine-tuning (A2C/PPO) with no, standard or prioritized KL; a short line per evaluation (every
    record in OUT/log.jsonl)."""
    checkpoint = Path(config.out_dir) / "checkpoint.pt"
    check_request(config)
    from ..run_folder import command_run
    from .trainer import Trainer

    with command_run(config.out_dir, "critkl rl", resume, checkpoint.is_file):
        _train(Trainer(config), resume, until)


def check_request(config: RLConfig) -> None:
    """Refuse, before anything is loaded or written, settings that would not run what they ask: episodes
    that are not a whole number of collects, CUDA-graph decoding without a GPU. A minibatch larger than a
    collect (the default minibatch with a small collect) is said: each Adam step then takes the collect."""
    if config.episodes % config.episodes_per_collect:
        collects = math.ceil(config.episodes / config.episodes_per_collect)
        fail(f"--episodes {config.episodes} is not a multiple of --episodes-per-collect {config.episodes_per_collect}: "
             f"the run would train {collects * config.episodes_per_collect} episodes; give a multiple")
    if config.decoding == "cuda_graph":
        import torch

        if not torch.cuda.is_available():
            fail("--decoding cuda_graph needs a CUDA GPU and this machine has none that torch can use: use "
                 "--decoding dynamic or static")


def _train(trainer, resume: bool, until: int) -> None:
    import torch

    from ..progress import Progress, duration

    c = trainer.config
    collects = math.ceil(c.episodes / c.episodes_per_collect)
    total = collects * c.episodes_per_collect
    secs = rough_seconds(c, torch.get_num_threads())
    guess = ("; the progress lines give an ETA" if secs is None else
             f"; about {duration(secs)} on {torch.get_num_threads()} thread(s) (a rough guess; the progress lines "
             "give an ETA)")
    typer.echo(f"RL from {c.model} on {trainer.n + trainer.k}-digit problems: {total:,} episodes in {collects} "
               f"collects of {c.episodes_per_collect}, {c.kl} KL (α={c.alpha:g}), {c.algo}, lr {c.lr:g}; held-out "
               f"test on {c.test_episodes} problems every {c.eval_every} collect(s){guess}. Records: "
               f"{Path(c.out_dir) / 'log.jsonl'}")
    if c.minibatch_episodes > c.episodes_per_collect:
        typer.echo(f"note: --minibatch-episodes {c.minibatch_episodes} is larger than a collect (--episodes-per-collect "
                   f"{c.episodes_per_collect}): each Adam step takes the collect's {c.episodes_per_collect} episodes")
    with Progress("RL", total, unit="episodes") as bar:
        def on_record(rec: dict) -> None:
            if "train_reward" in rec:
                bar.update(rec["episodes"], info=f"reward {rec['train_reward']:.3f} · KL {rec['kl']:.2g}")
            if "heldout_acc_sampled" in rec:
                bar.line(evaluation_line(rec, total, bar.times()))

        final = trainer.run(resume=resume, until=until or None, on_record=on_record)
    typer.echo(f"{'checkpoint' if until else 'final model'}: {final}")


rl = config_command(RLConfig, _rl, presets=PRESETS, preset_help=(
    "recipe (the defaults: a critic-free group baseline, lr 3e-5, Adam eps 1e-3, T 1, prioritized KL at "
    "alpha 0.1; learns on the shipped tiny models) or paper (the paper's Table 3: A2C with a critic, lr 1e-6, "
    "T 2, alpha 5). Under --config, --set and the options."))
