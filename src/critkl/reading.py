"""Reading the files of run and model folders, with errors that name the file.

A missing file raises ``FileNotFoundError``, a damaged one (not JSON, a truncated or overwritten torch
checkpoint, the wrong content) a ``ValueError``; both name the file, so the command line ends with one
``error:`` line. Nothing heavy is imported here (torch is imported by :func:`read_state` only).
"""

from __future__ import annotations

import json
from pathlib import Path


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, at most 200 characters (its type when empty).

    >>> first_line(ValueError("bad value\\nmore detail"))
    'bad value'
    """
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def read_json(path: str | Path, what: str = "JSON") -> object:
    """The JSON value in ``path``.

    >>> import tempfile; p = Path(tempfile.mkdtemp()) / "c.json"
    >>> _ = p.write_text("{oops")
    >>> read_json(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../c.json: not valid JSON (Expecting property name enclosed in double quotes: ...)
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not valid {what} (not UTF-8 text)") from None
    except (ValueError, OSError, RecursionError) as e:
        raise ValueError(f"{path}: not valid {what} ({first_line(e)})") from None


def read_state(path: str | Path, keys: tuple[str, ...]) -> dict:
    """The dict saved by ``torch.save`` in ``path``, checked to hold ``keys``.

    Raises ``FileNotFoundError`` when the file is missing and ``ValueError`` when it cannot be
    unpickled (truncated, overwritten) or is not such a dict.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # unpickling a damaged file can raise almost any exception
        raise ValueError(f"{path}: cannot be read, the file is damaged ({type(e).__name__}: "
                         f"{first_line(e)})") from None
    if not isinstance(state, dict) or any(k not in state for k in keys):
        raise ValueError(f"{path}: not a checkpoint (expected a dict with {', '.join(keys)})")
    return state
