"""Reading text files: ``.gz`` decompressed on the fly, and where a file stops being UTF-8 (for errors
that name the line)."""

from __future__ import annotations

import gzip


def open_bytes(path: str):
    """``path`` opened for reading bytes; a ``.gz`` file is decompressed on the fly."""
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def undecodable(path: str) -> tuple[int | None, int]:
    """The 1-based line and byte of the first byte sequence of ``path`` that is not UTF-8."""
    with open_bytes(path) as fh:
        data = fh.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        start = data.rfind(b"\n", 0, err.start) + 1
        # text mode also ends lines at a lone carriage return
        line = data.count(b"\n", 0, err.start) + data.count(b"\r", 0, err.start) \
            - data.count(b"\r\n", 0, err.start) + 1
        return line, err.start - max(start, data.rfind(b"\r", 0, err.start) + 1) + 1
    return None, 0
