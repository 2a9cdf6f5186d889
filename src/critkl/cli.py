"""The ``critkl`` command line: pretrain, eval-length, certainty, calibrate, reproduce, rl.

``pretrain`` and ``rl`` are generated from their config dataclasses (:mod:`critkl.cli_adapter`): every
field of ``PretrainConfig`` / ``RLConfig`` is an option, with ``--config FILE`` and ``--set KEY=VALUE``.
Options follow htc's names: ``--out`` for the output folder (under ``runs/``), ``--model`` for a trained
model, ``--base-model`` for the model a new pre-training run starts from, ``--resume`` off by default.
Nothing heavy is imported here: torch and transformers load inside the commands, so ``--help`` is fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from .cli_adapter import config_command, fail
from .configbase import parse_settings as _parse_settings
from .pretrain import PretrainConfig  # light: torch is imported when a command runs

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, rich_markup_mode=None)


@app.callback()
def main() -> None:
    """Scratchpad-addition testbed: pre-training, length generalization, certainty."""


def _pretrain(
    config: PretrainConfig,
    resume: bool = typer.Option(False, "--resume/--no-resume",
                                help="Continue from OUT/checkpoint (the same settings); without it, a folder "
                                     "that holds a checkpoint is refused."),
    export: Path = typer.Option(None, help="Also copy the final model to this folder."),
    until: int = typer.Option(0, help="Stop after this step's checkpoint, as an interruption would (0: run to "
                                      "--steps)."),
) -> None:
    """Pre-train a character GPT-2 on scratchpad additions of 1..N digits."""
    from .pretrain import _device, check_memory, recover_checkpoint
    from .run_folder import command_run

    check_memory(config, _device(config.device))  # before the folder is touched
    from .model import load_model, save_model
    from .pretrain import pretrain as run

    out = Path(config.out_dir)
    with command_run(out, "critkl pretrain", resume, lambda: recover_checkpoint(out / "checkpoint") is not None):
        final = run(config, resume=resume, until=until or None)
    stopped = bool(until) and until < config.steps
    typer.echo(f"{'checkpoint' if stopped else 'final model'}: {final}")
    if export is not None and not stopped:
        model, tok = load_model(final)
        save_model(model, tok, export, json.loads((final / "training_config.json").read_text()))
        typer.echo(f"exported to: {export}")


app.command("pretrain")(config_command(PretrainConfig, _pretrain))


def _model_of(model: str | None, model_option: str | None) -> str:
    """The model of a command that takes it as MODEL or as --model (htc's spelling)."""
    if model is not None and model_option is not None and model != model_option:
        fail(f"give the model once: MODEL ({model}) or --model ({model_option})")
    if model is None and model_option is None:
        fail("missing MODEL: a model folder or a shipped name such as tiny-n3 (or --model MODEL)")
    return model if model is not None else model_option


_MODEL_HELP = "Model folder, or a shipped name such as tiny-n3 (also as --model)."


def _require(option: str, ok: bool, want: str, value) -> None:
    """Stop with ``error: OPTION must be WANT, got VALUE`` (status 2) unless ``ok``."""
    if not ok:
        fail(f"{option} must be {want}, got {value}")


def _finite_positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _write(path: Path, text: str) -> None:
    """An output file, written whole or not at all (a temporary file, then a rename)."""
    from .run_folder import write_text_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _load(model: str):
    from .model import load_model, max_digits_of

    try:
        m, tok = load_model(model)
        return m, tok, max_digits_of(m)
    except (FileNotFoundError, ValueError, OSError) as e:
        fail(str(e))


def _renamed(old: str, old_value, new: str, value, default):
    """``value``, or the value given under the option's older name ``old`` (with a note on stderr; both
    at once is an error). Older names stay one release."""
    if old_value is None:
        return value
    if value != default:
        fail(f"{old} is the older name of {new}; give one of them")
    typer.echo(f"note: {old} is now {new}; the older name goes in the next release", err=True)
    return old_value


@app.command("eval-length")
def eval_length(
    model: str = typer.Argument(None, help=_MODEL_HELP, show_default=False),
    model_option: str = typer.Option(None, "--model", hidden=True),
    problems: int = typer.Option(1000, help="Problems per cell (paper: 1000)."),
    size: int = typer.Option(None, "--size", hidden=True),
    temperature: float = typer.Option(1.0, help="Sampling temperature of the sampled rows."),
    sampled: bool = typer.Option(True, help="Also evaluate sampled decoding."),
    max_digits: int = typer.Option(0, help="N (0: read it from the model config)."),
    extra_lengths: int = typer.Option(3, help="Evaluate N..N+k."),
    batch_size: int = typer.Option(64),
    seed: int = typer.Option(0),
    markdown: Path = typer.Option(None, help="Also write the table as markdown here."),
    json_out: Path = typer.Option(None, "--json", help="Also write the cells as JSON here."),
) -> None:
    """Exact-match accuracy at N..N+3 digits, identical and varying sets (paper Tables 4/5)."""
    import json
    import time
    from dataclasses import asdict

    from rich.console import Console
    from rich.table import Table

    from .arithmetic import EVAL_KINDS, eval_set
    from .evaluate import generation_seconds, length_table, markdown_table, table_rows
    from .progress import Progress, duration

    model = _model_of(model, model_option)
    size = _renamed("--size", size, "--problems", problems, 1000)
    _require("--problems", size >= 1, ">= 1", size)
    _require("--extra-lengths", extra_lengths >= 1, ">= 1 (lengths N..N+k)", extra_lengths)
    _require("--max-digits", max_digits >= 0, ">= 0 (0: the model's own N)", max_digits)
    _require("--batch-size", batch_size >= 1, ">= 1", batch_size)
    _require("--seed", 0 <= seed < 2**32, "in [0, 2**32)", seed)
    if sampled:
        _require("--temperature", _finite_positive(temperature), "a finite number > 0 (--no-sampled: greedy only)",
                 temperature)
    m, _, n = _load(model)
    n = max_digits or n
    temps = (0.0, temperature) if sampled else (0.0,)
    t0 = time.time()
    lengths = range(n, n + extra_lengths + 1)
    n_cells = len(EVAL_KINDS) * len(temps) * len(lengths)
    try:
        sample = [p for d in lengths for kind in EVAL_KINDS for p in eval_set(d, kind, size=min(size, 50), seed=seed)]
        guess = generation_seconds(m, sample) * len(temps) * size / min(size, 50)
        typer.echo(f"eval-length: {n_cells} cells ({len(EVAL_KINDS)} sets × {len(temps)} decodings × digits "
                   f"{n}..{n + extra_lengths}) × {size:,} problems = {n_cells * size:,} generations; about "
                   f"{duration(guess)} on {_threads()} thread(s) (a rough guess; the progress lines give an ETA)")
        with Progress("eval-length", n_cells * size, unit="generations") as bar:
            cells = length_table(
                m, n, size=size, temperatures=temps, extra_lengths=extra_lengths, batch_size=batch_size,
                seed=seed, progress=lambda d, t: bar.update(d),
            )
    except ValueError as e:
        fail(str(e))
    header, rows = table_rows(cells, n)
    table = Table(title=f"{model}: exact match %, ±95% bootstrap, {size} problems per cell")
    for h in header:
        table.add_column(h)
    for r in rows:
        table.add_row(*r)
    Console(width=160).print(table)
    typer.echo(f"wall time: {duration(time.time() - t0)}")
    if markdown is not None:
        _write(markdown, markdown_table(cells, n) + "\n")
        typer.echo(f"markdown: {markdown}")
    if json_out is not None:
        _write(json_out, json.dumps([asdict(c) for c in cells], indent=1) + "\n")
        typer.echo(f"json: {json_out}")


@app.command()
def certainty(
    model: str = typer.Argument(None, help=_MODEL_HELP, show_default=False),
    model_option: str = typer.Option(None, "--model", hidden=True),
    digits: int = typer.Option(..., "--digits", "-d", help="Operand length of the problems (N+1 in the paper)."),
    problems: int = typer.Option(50, help="Problems, one greedy generation each (paper: 50)."),
    samples: int = typer.Option(None, "--samples", hidden=True),
    temperature: float = typer.Option(1.0, help="Temperature of the certainty measures."),
    source: str = typer.Option("generated", help="generated (greedy outputs) or ground_truth."),
    max_digits: int = typer.Option(0, help="N (0: read it from the model config)."),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("runs/critkl-certainty"), "--out", help="Heatmaps and tables go here."),
    out_dir: Path = typer.Option(None, "--out-dir", hidden=True),
) -> None:
    """Certainty per token, critical tokens, the ΔJ table (paper Table 1) and heatmaps (Fig. 5)."""
    import json
    from dataclasses import asdict

    from rich.console import Console

    from .arithmetic import eval_set
    from .critical import analyse, delta_j_table, heatmap_html, heatmap_png, per_name_certainty
    from .report import delta_j_markdown, delta_j_rich

    model = _model_of(model, model_option)
    _require("--digits", digits >= 1, ">= 1", digits)
    samples = _renamed("--samples", samples, "--problems", problems, 50)
    _require("--problems", samples >= 1, ">= 1", samples)
    _require("--temperature", _finite_positive(temperature), "a finite number > 0", temperature)
    _require("--source", source in ("generated", "ground_truth"), "generated or ground_truth", repr(source))
    _require("--max-digits", max_digits >= 0, ">= 0 (0: the model's own N)", max_digits)
    _require("--seed", 0 <= seed < 2**32, "in [0, 2**32)", seed)
    m, _, n = _load(model)
    n = max_digits or n
    out_dir = out_dir or out  # --out-dir: the option's older name
    try:
        problems = eval_set(digits, "identical", size=samples, seed=seed)
        rows, gens_by_kind = [], {}
        for kind in ("shannon", "max_prob"):
            gens = analyse(m, problems, n, source=source, kind=kind, temperature=temperature)
            gens_by_kind[kind] = gens
            rows.append((kind, temperature, delta_j_table(gens, n, seed=seed, source=source)))
    except ValueError as e:
        fail(str(e))
    console = Console(width=160)
    console.print(delta_j_rich(rows, title=f"{model}: ΔJ on {digits}-digit problems ({source})"))
    out_dir.mkdir(parents=True, exist_ok=True)
    gens = gens_by_kind["shannon"]
    for name, (mean, count) in per_name_certainty(gens).items():
        console.print(f"  mean J (Shannon) at {name:<32} {mean:.3f}  (n={count})", markup=False)
    _write(out_dir / "delta_j.md", delta_j_markdown(rows) + "\n")
    _write(out_dir / "delta_j.json", json.dumps(
        [{"kind": k, "temperature": t, **asdict(r)} for k, t, r in rows], indent=1) + "\n")
    example = next((g for g in gens if not g.correct and g.critical.any()), gens[0])
    heatmap_png(example, out_dir / "heatmap.png", measure=f"Shannon certainty J at T={temperature:g}")
    _write(out_dir / "heatmap.html", heatmap_html(gens[:10], title=f"{model}: certainty (Shannon, T={temperature:g})"))
    typer.echo(f"files: {out_dir}/delta_j.md, delta_j.json, heatmap.png, heatmap.html")


@app.command()
def calibrate(
    model: str = typer.Argument(None, help="Model folder, or a shipped name such as tiny-n4 (the RL reference; "
                                "also as --model).", show_default=False),
    model_option: str = typer.Option(None, "--model", hidden=True),
    digits: int = typer.Option(0, "--digits", "-d", help="Digits of the RL problems (0: N+1)."),
    problems: int = typer.Option(256, help="Gold scratchpads to measure the certainty on."),
    quantile: float = typer.Option(0.1, help="Share of non-critical tokens allowed below the target weight."),
    target: float = typer.Option(0.5, help="The weight that share of non-critical tokens must keep at least."),
    temperatures: str = typer.Option("1,2,4", help="Certainty temperatures to try, comma-separated."),
    beta: float = typer.Option(0.0, help="Also show the weights of this β (e.g. the paper's 150) for each setting."),
    json_out: Path = typer.Option(None, "--json", help="Also write every row as JSON here."),
) -> None:
    """Choose β for the prioritized KL from the reference's certainty on critical vs other tokens.

    β = ln(target) / ln(c_q), with c_q the ``quantile`` of the certainty on non-critical gold tokens, for
    each certainty kind and temperature; the recommended row leaves the lowest median weight on
    critical tokens. Example: ``critkl calibrate tiny-n4``.
    """
    from rich.console import Console
    from rich.table import Table

    from .calibration import at_beta, calibrate_table, gold_certainties, recommend, rl_problems
    from .kl import CERTAINTY_KINDS

    model = _model_of(model, model_option)
    _require("--digits", digits >= 0, ">= 0 (0: N+1)", digits)
    _require("--problems", problems >= 1, ">= 1", problems)
    _require("--quantile", 0 < quantile < 1, "in (0, 1)", quantile)
    _require("--target", 0 < target < 1, "in (0, 1)", target)
    try:
        temps = tuple(float(t) for t in temperatures.split(","))
    except ValueError:
        fail(f"--temperatures must be comma-separated numbers such as 1,2,4, got {temperatures!r}")
    if any(not (math.isfinite(t) and t > 0) for t in temps):
        fail(f"--temperatures must all be finite and > 0, got {temperatures!r}")
    if not beta >= 0 or not math.isfinite(beta):
        fail(f"--beta must be a finite number >= 0, got {beta}")
    m, _, n = _load(model)
    try:
        table = gold_certainties(m, rl_problems(n, digits or n + 1, problems), n, CERTAINTY_KINDS, temps)
        rows = calibrate_table(table, quantile, target)
        best = recommend(rows)
    except ValueError as e:
        fail(str(e))
    out = Table(title=f"{model}: prioritized-KL weight w = c^β on {problems} gold scratchpads of "
                      f"{digits or n + 1} digits (N = {n})")
    for h in ("certainty", "T", "β", "w critical p10 / p50 / p90", "w other p10 / p50 / p90", ""):
        out.add_column(h)
    shown = list(rows)
    if beta:
        shown += [at_beta(r.kind, r.temperature, beta, *table[(r.kind, r.temperature)]) for r in rows]
    for r in shown:
        note = "recommended" if r == best else ("" if r.usable else "certainty saturates: no β")
        if r.other.p50 < 0.5:
            note = "[red]collapsed[/red]"
        out.add_row(r.kind, f"{r.temperature:g}", f"{r.beta:g}",
                    f"{r.critical.p10:.2g} / {r.critical.p50:.2g} / {r.critical.p90:.2g}",
                    f"{r.other.p10:.2g} / {r.other.p50:.2g} / {r.other.p90:.2g}", note)
    Console(width=160).print(out)
    typer.echo(f"use: critkl rl --model {model} --kl prioritized --certainty {best.kind} "
               f"--certainty-temperature {best.temperature:g} --beta {best.beta:g}")
    if json_out is not None:
        _write(json_out, json.dumps([r.as_dict() for r in shown], indent=1) + "\n")
        typer.echo(f"json: {json_out}")


@app.command()
def reproduce(
    experiment: str = typer.Argument(..., help="regime-pilot (the levers that make RL learn: critic vs group baseline, step size, KL), mechanism (why prioritizing helps: placement vs strength, preregistered, Holm), kl-strength (standard vs prioritized KL over α, β calibrated), pretraining, certainty, prioritized-kl, beta-sweep, pretraining-levels or engine-check (is RL able to raise accuracy at all?)."),
    scale: str = typer.Option("cpu", help="cpu (tiny models, minutes per run on 2 cores) or gpu (paper settings; start models from 'reproduce pretraining --scale gpu')."),
    preset: str = typer.Option(None, metavar="recipe|paper", help="RL settings under the scale's, as in 'critkl rl --preset': recipe (the cpu default: group baseline, Adam eps 1e-3, prioritized alpha 0.1) or paper (the gpu default: the paper's A2C with a critic, Adam eps 1e-8, alpha 5)."),
    seeds: int = typer.Option(0, help="Seeds per arm (0: the experiment's default: 12 for kl-strength's arms at the paper's α, 5 for prioritized-kl). Raising it later reuses the finished seeds."),
    out: Path = typer.Option(None, help="Report folder [runs/critkl-EXPERIMENT-SCALE]."),
    jobs: int = typer.Option(0, help="Parallel runs (0: one per CPU core; with ray or submitit: the most runs in flight, 0: all)."),
    launcher: str = typer.Option("local", metavar="local|ray|submitit", help="Where the runs execute: local (this machine's process pool), ray (a Ray cluster, --address; a local Ray instance without it) or submitit (Slurm jobs; --submitit-cluster local for testing). The output folder must be on a filesystem every machine shares: docs/scaling-out.md."),
    address: str = typer.Option(None, help="ray: the cluster's address (auto, or ray://HOST:10001); none: start a local Ray instance."),
    cpus_per_run: int = typer.Option(1, "--cpus-per-run", help="ray, submitit: CPUs (torch threads) of each run."),
    mem_gb: float = typer.Option(None, "--mem-gb", help="ray, submitit: memory of each run in GB (none: the cluster's default)."),
    partition: str = typer.Option(None, help="submitit: the Slurm partition."),
    time_min: int = typer.Option(60, "--time-min", help="submitit: each job's time limit in minutes (a run cut there resumes from its checkpoint when retried)."),
    retries: int = typer.Option(1, help="ray, submitit: times a failed run is submitted again (it resumes from its checkpoint); a run still failing is reported, not counted."),
    submitit_cluster: str = typer.Option("slurm", "--submitit-cluster", metavar="slurm|local|debug", help="submitit: slurm, or local / debug to test on this machine."),
    episodes: int = typer.Option(0, help="Override the scale's training episodes per run (0: keep)."),
    model: str = typer.Option(None, help="Override the scale's start model (folder, or a shipped name: tiny-n4 is the cpu default); RL then runs on its N+1 digits. Not for pretraining-levels (each arm has its own)."),
    digits: str = typer.Option(None, help="pretraining: the N to train, comma-separated (default: 3,4,5 cpu; 7,9,11,13 gpu)."),
    steps: int = typer.Option(0, help="pretraining: optimizer steps per model (0: 1500 cpu, 6000 gpu)."),
    set_: list[str] = typer.Option(None, "--set", help="RL experiments: override an RLConfig field of every "
                                   "run, KEY=VALUE, repeatable (e.g. --set lr=3e-5 --set test_episodes=128)."),
) -> None:
    """Run one of the paper's experiments over seeds; write report.md, PNG plots and results.json.

    Example: ``critkl reproduce prioritized-kl --model tiny-n4 --set lr=3e-5 --episodes 1600 --seeds 3``.
    """
    from rich.console import Console

    from .study import reproduce as run
    from .study.launchers import RunsFailed, launching, make_launcher

    overrides = {k: v for k, v in {"episodes": episodes or None, "model": model, "steps": steps or None}.items()
                 if v is not None}
    try:
        if digits:
            try:
                overrides["digits"] = tuple(int(x) for x in digits.split(","))
            except ValueError:
                raise ValueError(f"--digits must be comma-separated integers such as 3,4, got {digits!r}") from None
            if min(overrides["digits"]) < 1:
                raise ValueError(f"--digits must be >= 1, got {digits!r}")
        overrides.update(parse_settings(set_ or []))
        where = make_launcher(launcher, out or f"runs/critkl-{experiment}-{scale}", address=address,
                              cpus_per_run=cpus_per_run, mem_gb=mem_gb, partition=partition,
                              time_min=time_min, retries=retries, cluster=submitit_cluster)
        with launching(where):
            path = run(experiment, scale=scale, seeds=seeds or None, out=out, jobs=jobs,
                       overrides=overrides, console=Console(), preset=preset)
    except (ValueError, FileNotFoundError, ImportError, RunsFailed) as e:
        fail(str(e))
    typer.echo(f"report: {path}")


def parse_settings(items: list[str]) -> dict:
    """``["lr=3e-5", "trainable=ln_f"]`` → ``{"lr": 3e-05, "trainable": "ln_f"}``, checked against RLConfig.

    >>> parse_settings(["lr=3e-5", "test_episodes=128", "eval_greedy=true"])
    {'lr': 3e-05, 'test_episodes': 128, 'eval_greedy': True}
    """
    from .rl.config import RLConfig

    return _parse_settings(items, RLConfig)


from .rl.cli import rl as _rl  # noqa: E402  (the RL engine's command lives with it)

app.command("rl")(_rl)


if __name__ == "__main__":  # pragma: no cover
    app()
