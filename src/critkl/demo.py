"""A CPU tour of the testbed: ``python -m critkl.demo`` (or ``make demo-critkl``), about 6 minutes on 2 cores.

1. The shipped ``tiny-n3`` model: one scratchpad generation, the length-generalization table on
   small samples, and the certainty / critical-token summary on 4-digit problems (about a minute).
2. RL that learns (:func:`rl_demo`): the shipped ``tiny-n4`` RL-fine-tuned on 5-digit problems (its
   N+1) with the prioritized KL and a critic-free group baseline, two seeds in parallel; the plot of
   held-out accuracy and p(gold) over training stays above the start model from the first evaluation.

Everything goes to ``runs/critkl-demo/`` (or the folder given as the first argument), and the demo ends with
the list of the reports and plots it wrote; ``python -m critkl.demo OUT --no-rl`` runs the tour only, and
``--help`` says so.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def main(out_dir: str = "runs/critkl-demo", size: int = 40, certainty_samples: int = 20, rl: bool = True) -> None:
    from . import Problem, generate, is_correct, load_pretrained
    from .arithmetic import EVAL_KINDS, eval_set
    from .critical import analyse, delta_j_table, heatmap_html, heatmap_png, per_name_certainty
    from .evaluate import length_table, markdown_table, table_rows
    from .model import max_digits_of
    from .progress import Progress
    from .report import delta_j_markdown, delta_j_rich

    console = Console(width=max(Console().width, 150))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    console.print("critkl demo: the testbed tour on tiny-n3 (about 1 min), then "
                  + ("RL that learns on tiny-n4 (about 7 min on 2 cores)" if rl else "no RL (--no-rl)")
                  + f"; everything goes to {out}/", highlight=False)

    model, tokenizer = load_pretrained("tiny-n3")
    n = max_digits_of(model)
    n_params = sum(p.numel() for p in model.parameters())
    console.rule("[bold]critkl demo: tiny-n3")
    console.print(f"GPT2LMHeadModel, {n_params:,} parameters, context {model.config.n_positions}, "
                  f"pre-trained on 1..{n} digits; tokenizer: {len(tokenizer)} characters, pad '%'")

    problem = Problem(487, 56)
    text = generate(model, [problem])[0]
    console.rule("1. one greedy scratchpad generation")
    console.print(problem.prompt + text, markup=False, highlight=False, end="")
    console.print(f"-> exact match: {is_correct(text, problem.a, problem.b)}")

    console.rule(f"2. length generalization (greedy, {size} problems per cell, 95% bootstrap)")
    cells_total = len(EVAL_KINDS) * 3 * size
    with Progress("length table", cells_total, unit="generations", file=console.file) as bar:
        bar.line(f"{len(EVAL_KINDS)} sets × 3 lengths × {size} problems: {cells_total} greedy generations (about "
                 "20 s on 2 idle cores, more on a busy machine; wrong answers run to their length budget)")
        cells = length_table(model, n, size=size, temperatures=(0.0,), extra_lengths=2,
                             progress=lambda d, t: bar.update(d))
    header, rows = table_rows(cells, n)
    table = Table()
    for h in header:
        table.add_column(h)
    for r in rows:
        table.add_row(*r)
    console.print(table)
    (out / "length_table.md").write_text(markdown_table(cells, n) + "\n")

    digits = n + 1
    console.rule(f"3. certainty and critical tokens ({certainty_samples} greedy generations, {digits} digits)")
    problems = eval_set(digits, "identical", size=certainty_samples, seed=0)
    rows_j, gens = [], None
    with Progress("certainty", 4, unit="analyses (greedy outputs or gold, × 2 measures)",
                  file=console.file) as bar:
        for source in ("generated", "ground_truth"):
            for kind in ("shannon", "max_prob"):
                g = analyse(model, problems, n, source=source, kind=kind, temperature=1.0)
                bar.update(advance=1, info=f"{source}/{kind}")
                try:
                    rows_j.append((f"{kind} ({source})", 1.0, delta_j_table(g, n, source=source)))
                except ValueError:
                    bar.line(f"  {source}/{kind}: no output reached a critical state "
                             "(the model went wrong earlier); row skipped")
                    continue
                if kind == "shannon" and (gens is None or source == "generated"):
                    gens = g
    console.print(delta_j_rich(rows_j, title="ΔJ = J(token) - mean J(other tokens of the output), like Table 1"))
    for name, (mean, count) in per_name_certainty(gens).items():
        console.print(f"  mean J (Shannon) at {name:<32} {mean:.3f}  (n={count})", markup=False)
    (out / "delta_j.md").write_text(delta_j_markdown(rows_j) + "\n")
    example = next((g for g in gens if not g.correct and g.critical.any()), gens[0])
    heatmap_png(example, out / "heatmap.png", measure="Shannon certainty J at T=1")
    generated = analyse(model, problems[:10], n, source="generated")
    (out / "heatmap.html").write_text(
        heatmap_html(generated, title="tiny-n3 greedy outputs on 4-digit problems: certainty (Shannon, T=1)"))

    files = [(out / "length_table.md", "report: the length-generalization table"),
             (out / "delta_j.md", "report: the ΔJ table of certainty at critical tokens"),
             (out / "heatmap.png", "plot: certainty per token of one output, critical tokens boxed"),
             (out / "heatmap.html", "the same for 10 outputs, in a browser")]
    if rl:
        console.rule("4. RL that learns: tiny-n4 on 5 digits (its N+1), 2 seeds in parallel")
        rl_files = rl_demo(out / "rl", console=console)
        files += [(rl_files[0], "plot: held-out and in-distribution accuracy over RL training")]
        files += [(f, "log: every collect and evaluation of one RL run") for f in rl_files[1:]]
    console.rule("files")
    console.print(f"critkl demo done in {time.time() - t_start:.0f} s; wrote:", highlight=False)
    for f, what in files:
        console.print(f"  {f}  ({what})", markup=False, highlight=False, soft_wrap=True)


# The demo's RL: critkl rl's defaults (the recipe the regime pilot found: critic-free group baseline, Adam
# ε 1e-3; docs/critkl-results.md) over the cpu-scale study settings, with fewer episodes, and arm B of the
# mechanism study: the prioritized KL with the paper's β at the study's α (the defaults, spelled out).
RL_DEMO_ARM = {"kl": "prioritized", "alpha": 0.1, "certainty": "shannon", "certainty_temperature": 1.0,
               "beta": 150.0}
RL_DEMO_SETTINGS = {"episodes": 384, "eval_every": 5, "sampled_test_episodes": 128}


def rl_demo(out: Path, seeds: int = 2, console: Console | None = None, overrides: dict | None = None) -> list[Path]:
    """RL-fine-tune ``tiny-n4`` on 5 digits, ``seeds`` runs in parallel; plot and summarize held-out
    accuracy. ``overrides`` replace settings of the recipe (``RLConfig`` fields). Returns the files
    written (the plot first). Finished runs are read back.

    >>> rl_demo(Path("runs/critkl-demo/rl"))  # doctest: +SKIP
    """
    import numpy as np

    from .study.aggregate import read_log
    from .study.experiments import SCALE_SETTINGS, Arm
    from .study.report import plot_accuracy
    from .study.runner import run_all

    console = console or Console()
    base = {**SCALE_SETTINGS["cpu"], **RL_DEMO_SETTINGS, **(overrides or {})}
    label = (f"{RL_DEMO_ARM['kl']} KL (α={RL_DEMO_ARM['alpha']:g}"
             + (f", β={RL_DEMO_ARM['beta']:g})" if RL_DEMO_ARM["kl"] == "prioritized" else ")"))
    arm = Arm(RL_DEMO_ARM["kl"], label, RL_DEMO_ARM)
    digits = base.get("train_digits") or "N+1"
    console.print(f"{label}: {seeds} runs × {base['episodes']} episodes, Adam lr {base['lr']:g}, policy "
                  f"temperature {base['policy_temperature']:g}; held-out: {base['test_episodes']} fixed "
                  f"{digits}-digit problems, every {base['eval_every']} collects"
                  + (f" (accuracy sampled on {base['sampled_test_episodes']} of them in between)"
                     if base.get("sampled_test_episodes") else "") + ". Progress lines follow the runs' "
                  "logs; a line per finished run:", highlight=False)
    t0 = time.time()
    runs = run_all(base, [arm], seeds, out, jobs=min(seeds, 2), console=console)
    logs = [read_log(folder) for _, _, folder in runs]
    plot = out / "accuracy.png"
    plot_accuracy({arm.name: logs}, {arm.name: arm.label}, plot,
                  f"RL from {base['model']} on {digits} digits ({seeds} seeds)",
                  extra=(("heldout_p_gold", "held-out p(gold solution)"),), mark_start=True)
    table = Table(title=f"held-out {digits}-digit accuracy, start → end ({time.time() - t0:.0f}s)",
                  caption="end: mean of the last two evaluations (the lines above give the last one)")
    for col in ("seed", "sampled accuracy", "p(gold solution)", "in-distribution accuracy"):
        table.add_column(col)

    def ends(log, key):
        vals = [r[key] for r in log if key in r]
        return vals[0], float(np.mean(vals[-2:]))  # end: mean of the last two evaluations

    for (_, seed, _), log in zip(runs, logs, strict=True):
        table.add_row(str(seed), *(f"{a:.3f} → {b:.3f}" for a, b in (
            ends(log, k) for k in ("heldout_acc_sampled", "heldout_p_gold", "in_dist_acc_sampled"))))
    console.print(table)
    start, end = np.mean([ends(log, "heldout_acc_sampled") for log in logs], axis=0)
    console.print(f"held-out accuracy, mean over seeds: {start:.3f} at the start → {end:.3f} at the end "
                  f"({end - start:+.3f}, end: last two evaluations); plot: {plot}")
    return [plot] + [folder / "log.jsonl" for _, _, folder in runs]


def cli(argv: list[str] | None = None) -> None:
    """``python -m critkl.demo [OUT] [--no-rl]``: parse the arguments (unknown ones exit 2), then run."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m critkl.demo", description=(
        "A CPU tour of the critkl testbed: the shipped tiny-n3 model (a generation, the length table, "
        "critical tokens), then RL that learns on tiny-n4 (two seeds, about 7 min on 2 cores)."))
    ap.add_argument("out", nargs="?", default="runs/critkl-demo", help="output folder (default: %(default)s)")
    ap.add_argument("--no-rl", action="store_true", help="the testbed tour only, no RL")
    args = ap.parse_args(argv)
    main(args.out, rl=not args.no_rl)


if __name__ == "__main__":
    cli(sys.argv[1:])
