"""htc.progress: plain lines a log can follow (every few percent, every ~20 s, and while a step runs long),
rich's bar on a terminal."""

import io
import time

from htc.progress import Progress, duration


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_every_few_percent_with_elapsed_time_and_eta():
    out = io.StringIO()
    with Progress("embedding", 1000, unit="texts", file=out) as p:
        for _ in range(100):
            p.update(advance=10)
    lines = out.getvalue().splitlines()
    assert len(lines) == 20 and lines[0].startswith("embedding: 50/1,000 texts (5%) · ")
    assert lines[-1].startswith("embedding: 1,000/1,000 texts (100%)") and lines[-1].endswith("finished")


def test_a_line_every_few_seconds_even_without_progress():
    out = io.StringIO()
    with Progress("runs", 21, file=out, every_s=0.2) as p:
        time.sleep(0.5)
        p.line("seed 0 · bce: done")
        p.update(1)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("runs: 0/21 (0%)") and "ETA after the first step" in lines[0]
    assert "seed 0 · bce: done" in lines


def test_terminal_gets_the_rich_bar_and_disabled_prints_nothing():
    tty = Tty()
    with Progress("runs", 2, file=tty) as p:
        p.update(2)
    assert "runs: 2/2" not in tty.getvalue()
    out = io.StringIO()
    with Progress("runs", 2, file=out, enabled=False) as p:
        p.update(2)
    assert out.getvalue() == "" and duration(3720) == "1h02m"
