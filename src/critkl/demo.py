"""A one-to-two-minute CPU tour of the testbed: ``python -m critkl.demo`` (or ``make demo-critkl``).

Loads the shipped ``tiny-n3`` model, shows one scratchpad generation, the
length-generalization table on small samples, and the certainty / critical-token
summary on 4-digit problems; writes a heatmap (PNG + HTML) and the tables to
``outputs/critkl-demo/`` (or the folder given as the first argument).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def main(out_dir: str = "outputs/critkl-demo", size: int = 40, certainty_samples: int = 20) -> None:
    from . import Problem, generate, is_correct, load_pretrained
    from .arithmetic import eval_set
    from .critical import analyse, delta_j_table, heatmap_html, heatmap_png, per_name_certainty
    from .evaluate import length_table, markdown_table, table_rows
    from .model import max_digits_of
    from .report import delta_j_markdown, delta_j_rich

    console = Console(width=max(Console().width, 150))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()

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
    cells = length_table(model, n, size=size, temperatures=(0.0,), extra_lengths=2)
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
    for source in ("generated", "ground_truth"):
        for kind in ("shannon", "max_prob"):
            g = analyse(model, problems, n, source=source, kind=kind, temperature=1.0)
            try:
                rows_j.append((f"{kind} ({source})", 1.0, delta_j_table(g, n, source=source)))
            except ValueError:
                console.print(f"  {source}/{kind}: no output reached a critical state "
                              "(the model went wrong earlier); row skipped", markup=False)
                continue
            if kind == "shannon" and (gens is None or source == "generated"):
                gens = g
    console.print(delta_j_rich(rows_j, title="ΔJ = J(token) - mean J(other tokens of the output), like Table 1"))
    for name, (mean, count) in per_name_certainty(gens).items():
        console.print(f"  mean J (Shannon) at {name:<32} {mean:.3f}  (n={count})", markup=False)
    (out / "delta_j.md").write_text(delta_j_markdown(rows_j) + "\n")
    example = next((g for g in gens if not g.correct and g.critical.any()), gens[0])
    heatmap_png(example, out / "heatmap.png")
    generated = analyse(model, problems[:10], n, source="generated")
    (out / "heatmap.html").write_text(
        heatmap_html(generated, title="tiny-n3 greedy outputs on 4-digit problems: certainty (Shannon, T=1)"))

    console.rule("files")
    for f in ("length_table.md", "delta_j.md", "heatmap.png", "heatmap.html"):
        console.print(f"  {out / f}")
    console.print(f"done in {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main(*sys.argv[1:2])
