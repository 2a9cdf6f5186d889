"""Progress a log can follow: rich's bar on a terminal; elsewhere (a file, a pipe) a plain line every
few percent or every ~20 s, whichever comes first, with the elapsed time and an ETA (also while one step
runs longer than that: a watch thread repeats the status line).

>>> import io
>>> out = io.StringIO()
>>> with Progress("embedding", 3, unit="texts", file=out) as p:
...     p.update(3)
>>> out.getvalue()[:40]
'embedding: 3/3 texts (100%) · 0s elapsed'
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
    """Context manager: ``update(done=None, info=None, advance=0)``; ``line(text)`` prints a message (above
    the bar on a terminal). ``bar=None``: rich's bar when ``file`` (default stdout) is a terminal."""

    def __init__(self, what: str, total: float, unit: str = "", done: float = 0, *, file=None,
                 bar: bool | None = None, enabled: bool = True, every_pct: float = 5.0,
                 every_s: float = 20.0) -> None:
        self.what, self.total, self.unit, self.enabled = what, total, unit, enabled
        self.file = file or sys.stdout
        self.every_pct, self.every_s = every_pct, every_s
        self.done = self.shown = self.done0 = done
        self.info = ""
        self.t0 = self.t_line = time.monotonic()
        self._bar = None
        self._lock, self._stop = threading.Lock(), threading.Event()
        self.use_bar = enabled and (self.file.isatty() if bar is None else bar)

    def __enter__(self) -> Progress:
        if self.use_bar:
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn(self.what), BarColumn(), TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                            console=Console(file=self.file), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=self.total, completed=self.done, info="")
        elif self.enabled:
            threading.Thread(target=self._watch, daemon=True).start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.every_s / 4):
            if time.monotonic() - self.t_line >= self.every_s:
                self._print()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._bar is not None:
            self._bar.stop()
        elif self.enabled and exc[0] is None and self.done != self.shown:
            self._print()

    def _pct(self, done: float) -> float:
        return 100.0 * done / self.total if self.total else 100.0

    def times(self) -> str:
        """``3m05s elapsed, about 1m10s left``."""
        elapsed = time.monotonic() - self.t0
        new = self.done - self.done0
        left = ("finished" if self.done >= self.total else "ETA after the first step" if new <= 0
                else f"about {duration(elapsed * (self.total - self.done) / new)} left")
        return f"{duration(elapsed)} elapsed, {left}"

    def _print(self) -> None:
        with self._lock:
            print(f"{self.what}: {self.done:,.0f}/{self.total:,.0f}{' ' + self.unit if self.unit else ''} "
                  f"({self._pct(self.done):.0f}%){' · ' + self.info if self.info else ''} · {self.times()}",
                  file=self.file, flush=True)
            self.t_line, self.shown = time.monotonic(), self.done

    def update(self, done: float | None = None, info: str | None = None, advance: float = 0) -> None:
        self.done = (self.done if done is None else done) + advance
        self.info = self.info if info is None else info
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, info=self.info)
        elif self.enabled and (self._pct(self.done) >= self._pct(self.shown) + self.every_pct
                               or time.monotonic() - self.t_line >= self.every_s
                               or (self.done >= self.total and self.shown < self.total)):
            self._print()

    def line(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        elif self.enabled:
            with self._lock:
                print(text, file=self.file, flush=True)
                self.t_line = time.monotonic()
