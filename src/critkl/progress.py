"""Progress a log can follow: rich's bar on a terminal; elsewhere (a file, a pipe) a plain line every
few percent or every ~20 s, whichever comes first, with the elapsed time and an ETA. A step that takes
longer than that between updates (an evaluation) still gets a line every ~20 s, from a watch thread.

>>> import io
>>> out = io.StringIO()
>>> with Progress("pretrain", 4, unit="steps", file=out) as p:
...     for i in range(4):
...         p.update(i + 1, info="loss 0.1")
>>> out.getvalue().splitlines()[-1][:47]
'pretrain: 4/4 steps (100%) · loss 0.1 · 0s elap'
"""

from __future__ import annotations

import sys
import threading
import time


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``.

    >>> duration(42.4), duration(185), duration(3720)
    ('42s', '3m05s', '1h02m')
    """
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    return f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """A context manager: ``update(done, info=...)`` as work advances, ``line(text)`` for a message of its
    own (above the bar on a terminal). ``bar=None``: rich's bar when ``file`` (default stdout) is a
    terminal, else plain lines; ``enabled=False`` prints nothing."""

    def __init__(self, what: str, total: float, unit: str = "", done: float = 0, *, file=None,
                 bar: bool | None = None, enabled: bool = True, every_pct: float = 5.0,
                 every_s: float = 20.0) -> None:
        self.what, self.total, self.unit, self.enabled = what, total, unit, enabled
        self.file = file or sys.stdout
        self.bar = enabled and (self.file.isatty() if bar is None else bar)
        self.every_pct, self.every_s = every_pct, every_s
        self.done = self.done0 = self.shown = done
        self.info = ""
        self.t0 = self.t_line = time.monotonic()
        self._rich = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def __enter__(self) -> Progress:
        if self.bar:
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self._rich = Bar(TextColumn(self.what), BarColumn(), TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
                             TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                             console=Console(file=self.file), transient=True)
            self._rich.start()
            self._task = self._rich.add_task(self.what, total=self.total, completed=self.done, info="")
        elif self.enabled:
            threading.Thread(target=self._watch, daemon=True).start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.every_s / 4):
            if time.monotonic() - self.t_line >= self.every_s:
                self._print()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._rich is not None:
            self._rich.stop()
        elif self.enabled and exc[0] is None and self.done != self.shown:
            self._print()  # the last state, unless just shown

    def _pct(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0

    def times(self) -> str:
        """``3m05s elapsed, about 1m10s left``."""
        elapsed = time.monotonic() - self.t0
        rate = (self.done - self.done0) / elapsed if elapsed > 0 else 0.0
        left = ("finished" if self.done >= self.total else
                f"about {duration((self.total - self.done) / rate)} left" if rate > 0 else "ETA after the first step")
        return f"{duration(elapsed)} elapsed, {left}"

    def status(self) -> str:
        """``what: done/total unit (pct%) · info · elapsed, time left``."""
        return (f"{self.what}: {self.done:,.0f}/{self.total:,.0f}{' ' + self.unit if self.unit else ''} "
                f"({self._pct():.0f}%){' · ' + self.info if self.info else ''} · {self.times()}")

    def _print(self) -> None:
        with self._lock:
            print(self.status(), file=self.file, flush=True)
            self.t_line, self.shown = time.monotonic(), self.done

    def update(self, done: float | None = None, info: str | None = None, advance: float = 0) -> None:
        """Set (``done``) or advance the count; a line when ``every_pct`` more is done, ``every_s`` have passed
        since the last line, or the work is finished."""
        self.done = (self.done if done is None else done) + advance
        self.info = self.info if info is None else info
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done, info=self.info)
        elif self.enabled and (self._pct() >= 100.0 * self.shown / (self.total or 1) + self.every_pct
                               or time.monotonic() - self.t_line >= self.every_s
                               or (self.done >= self.total and self.shown < self.total)):
            self._print()

    def line(self, text: str) -> None:
        """A message of its own: above the bar on a terminal, a plain line elsewhere."""
        if self._rich is not None:
            self._rich.console.print(text, markup=False, highlight=False)
        elif self.enabled:
            with self._lock:
                print(text, file=self.file, flush=True)
                self.t_line = time.monotonic()
