"""critkl.progress: plain lines a log can follow (every few percent, every ~20 s, and while a step runs
long), rich's bar on a terminal."""

import io
import time

from critkl.progress import Progress, duration


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_every_few_percent_with_elapsed_time_and_eta():
    out = io.StringIO()
    with Progress("work", 100, unit="items", file=out, every_pct=10) as p:
        for i in range(100):
            p.update(i + 1, info=f"loss {1 / (i + 1):.2f}")
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and all(line.startswith("work: ") for line in lines)
    assert lines[0].startswith("work: 10/100 items (10%) · loss 0.10 · ") and "left" in lines[0]
    assert lines[-1].startswith("work: 100/100 items (100%)") and lines[-1].endswith("finished")


def test_a_line_every_few_seconds_even_without_progress():
    out = io.StringIO()
    with Progress("slow step", 10, file=out, every_s=0.2) as p:
        time.sleep(0.5)  # one long step: the watch thread repeats the status line
        p.update(1)
    lines = out.getvalue().splitlines()
    assert sum(line.startswith("slow step: 0/10 (0%)") for line in lines) >= 1
    assert "ETA after the first step" in lines[0]


def test_messages_and_a_resumed_count():
    out = io.StringIO()
    with Progress("pretrain", 10, unit="steps", done=5, file=out) as p:
        p.line("an evaluation")
        p.update(10)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0] == "an evaluation"
    assert lines[1].startswith("pretrain: 10/10 steps (100%)")


def test_terminal_gets_the_rich_bar_and_disabled_prints_nothing():
    tty = Tty()
    with Progress("work", 3, file=tty) as p:
        assert p._rich is not None
        p.update(3)
    assert "work: 3/3" not in tty.getvalue()  # no plain status lines on a terminal
    out = io.StringIO()
    with Progress("work", 3, file=out, enabled=False) as p:
        p.update(3)
        p.line("hidden")
    assert out.getvalue() == ""
    assert duration(59.6) == "1m00s"
