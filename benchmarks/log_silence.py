"""How long a command's log stays silent: the longest gap between two consecutive output lines.

Two ways to use it:

- ``python benchmarks/log_silence.py [--max 60] [--log FILE] -- make demo``: runs the command with stdout and
  stderr piped (as when its output goes to a file), echoes and timestamps each line (``FILE`` gets
  ``<unix time> <line>``), then reports the wall time, the CPU time of the command (user + sys, children
  included) and the longest silence with the line that ended it (``make demo-log-check`` does this);
- ``python benchmarks/log_silence.py --stamped FILE [--max 60]``: the same report on a log already stamped,
  e.g. by ``cmd 2>&1 | while IFS= read -r l; do printf '%s %s\\n' "$(date +%s)" "$l"; done > FILE``.

The exit status is 1 when the longest silence exceeds ``--max`` seconds (or the command failed).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time


def longest_silence(stamped: list[tuple[float, str]], start: float | None = None,
                    end: float | None = None) -> tuple[float, int]:
    """``(seconds, index of the line that ended it)`` over ``(time, line)`` pairs; ``start``/``end``: when the
    command began and ended (the wait for the first line and after the last one count too; index
    ``len(stamped)``: the end).

    >>> longest_silence([(0.0, "a"), (5.0, "b"), (7.0, "c")])
    (5.0, 1)
    >>> longest_silence([(3.0, "a"), (4.0, "b")], start=0.0, end=9.0)
    (5.0, 2)
    """
    times = [t for t, _ in stamped] + ([end] if end is not None else [])
    first = 0 if start is None else -1
    times = ([start] if start is not None else []) + times
    gaps = [(b - a, i + 1 + first) for i, (a, b) in enumerate(zip(times, times[1:]))]
    return max(gaps) if gaps else (0.0, 0)


def read_stamped(path: str) -> list[tuple[float, str]]:
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            stamp, _, text = line.rstrip("\n").partition(" ")
            try:
                out.append((float(stamp), text))
            except ValueError:
                continue  # not a stamped line
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[argv.index("--") + 1:] if "--" in argv else []
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max", type=float, default=60.0, help="allowed silence in seconds (default 60)")
    ap.add_argument("--log", help="also write the stamped lines here")
    ap.add_argument("--stamped", help="report on this stamped log instead of running a command")
    args = ap.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    rc, start, end, cpu = 0, None, None, None
    if args.stamped:
        lines = read_stamped(args.stamped)
    elif command:
        lines = []
        log = open(args.log, "w") if args.log else None
        start = time.time()
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        for raw in proc.stdout:
            now, text = time.time(), raw.decode(errors="replace").rstrip("\n")
            lines.append((now, text))
            print(text, flush=True)
            if log:
                log.write(f"{now:.3f} {text}\n")
                log.flush()
        rc = proc.wait()
        end = time.time()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime
        if log:
            log.close()
    else:
        ap.error("give a command after --, or --stamped FILE")
    if not lines:
        print("log-silence: no lines")
        return 1
    gap, i = longest_silence(lines, start, end)
    wall = (end or lines[-1][0]) - (start if start is not None else lines[0][0])
    print(f"log-silence: {len(lines)} lines over {wall / 60:.1f} min"
          + (f" (command exit status {rc}; CPU user+sys {cpu / 60:.1f} min)" if cpu is not None else ""))
    ended = repr(lines[i][1][:160]) if i < len(lines) else "the end of the command"
    print(f"log-silence: longest silence {gap:.0f} s (limit {args.max:.0f} s), ended by: {ended}")
    if i > 0:
        print(f"log-silence: the line before it: {lines[i - 1][1][:160]!r}")
    return 1 if rc or gap > args.max else 0


if __name__ == "__main__":
    sys.exit(main())
