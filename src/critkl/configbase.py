"""The base of critkl's config dataclasses: documented fields, checked on construction, read from JSON.

A config field carries its help text in ``metadata`` (:func:`setting`); the command line is generated
from the fields (:mod:`critkl.cli_adapter`), so a new field reaches ``--help`` without CLI code.
``Config.__post_init__`` checks every field against its annotation, then runs the class's
``validate`` (the field-specific rules); both raise a ``ValueError`` naming the field. This module
imports nothing heavy: the ``critkl`` command line reads it to build its help.

>>> from dataclasses import dataclass
>>> @dataclass
... class Demo(Config):
...     steps: int = setting(10, "Optimizer steps.")
>>> Demo(steps="ten")
Traceback (most recent call last):
...
ValueError: steps must be an int, got 'ten'
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import types
import typing
from pathlib import Path

_MISSING = dataclasses.MISSING


def setting(default=_MISSING, help: str = "", *, factory=_MISSING, **cli) -> dataclasses.Field:
    """A dataclass field with its help text; ``cli`` keys tune its command-line option.

    ``option="--out"`` (the option's name instead of ``--field-name``), ``aliases=("--out-dir",)``
    (older names that keep working, hidden from ``--help``), ``short="-n"``, ``cli=False`` (no
    option: set it with ``--config``/``--set`` only).
    """
    return dataclasses.field(default=default, default_factory=factory, metadata={"help": help, **cli})


def _describe(tp) -> str:
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an int"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"a list of {len(typing.get_args(tp))} numbers"
    return getattr(tp, "__name__", str(tp))


def _matches(value, tp) -> bool:
    if tp is typing.Any:
        return True
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is tuple:
        return (isinstance(value, (tuple, list)) and len(value) == len(args)
                and all(_matches(v, a) for v, a in zip(value, args, strict=True)))
    return isinstance(value, origin or tp)


def field_types(cls) -> dict[str, object]:
    """The resolved annotation of every field of a config class (string annotations evaluated)."""
    return typing.get_type_hints(cls)


def _non_finite(value) -> bool:
    """True for a NaN or infinite float, also inside a tuple or list."""
    if isinstance(value, (tuple, list)):
        return any(_non_finite(v) for v in value)
    return isinstance(value, float) and not math.isfinite(value)


def check_types(config) -> None:
    """Raise ``ValueError`` naming the first field whose value does not fit its annotation, or whose
    number is NaN or infinite; a JSON list given for a tuple field becomes a tuple, so a config read
    back equals the one written.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Demo(Config):
    ...     lr: float = setting(1e-3, "Learning rate.")
    >>> Demo(lr=float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: lr must be a finite number, got nan
    """
    hints = field_types(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not _matches(value, hints[f.name]):
            raise ValueError(f"{f.name} must be {_describe(hints[f.name])}, got {value!r}")
        if _non_finite(value):
            raise ValueError(f"{f.name} must be a finite number, got {value!r}")
        if isinstance(value, list) and typing.get_origin(hints[f.name]) is tuple:
            object.__setattr__(config, f.name, tuple(value))


@dataclasses.dataclass
class Config:
    """Base class: subclasses are dataclasses whose fields use :func:`setting`."""

    def __post_init__(self) -> None:
        check_types(self)
        self.validate()

    def validate(self) -> None:
        """Field rules beyond the types; raise ``ValueError`` naming the field."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: object):
        """Read a JSON file of fields; unknown keys are an error naming them; ``overrides`` that are
        not ``None`` replace the file's values."""
        data = read_fields(cls, path)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)


def read_fields(cls, path: str | Path) -> dict:
    """The fields in a JSON config file, checked to be fields of ``cls``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path}: no such file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"config file {path}: not JSON ({e})") from None
    except UnicodeDecodeError:
        raise ValueError(f"config file {path}: not UTF-8 text") from None
    except (OSError, RecursionError) as e:
        raise ValueError(f"config file {path}: cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {path}: expected a JSON object of {cls.__name__} fields")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"config file {path}: unknown keys {unknown} (not {cls.__name__} fields)")
    hints = field_types(cls)
    for key, value in data.items():  # a wrongly typed field: name the file too
        if not _matches(value, hints[key]):
            raise ValueError(f"config file {path}: {key} must be {_describe(hints[key])}, got {value!r}")
        if _non_finite(value):
            raise ValueError(f"config file {path}: {key} must be a finite number, got {value!r}")
    return data


def parse_settings(items: list[str], cls) -> dict:
    """``["lr=3e-5", "trainable=ln_f"]`` → ``{"lr": 3e-05, "trainable": "ln_f"}``, keys checked against
    the fields of ``cls``; values are JSON (``true``, ``null``, numbers, lists) or else plain strings.
    """
    known = {f.name for f in dataclasses.fields(cls)}
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        if key not in known:
            raise ValueError(f"--set {item!r}: {key!r} is not a field of {cls.__name__} "
                             f"(known: {', '.join(sorted(known))})")
        try:
            value = json.loads(raw.lower() if raw.lower() in ("true", "false", "null") else raw)
        except json.JSONDecodeError:
            value = raw  # a plain string such as a regex or a path
        out[key] = value
    return out


def config_diff(stored: dict, wanted: dict, ignore: tuple[str, ...] = (), defaults: dict | None = None) -> list[str]:
    """The fields (sorted) whose values differ between two config dicts, ``ignore`` left out.

    A field absent from ``stored`` whose wanted value is its default in ``defaults`` is no difference:
    the field was added after the run was made, and its default keeps the behaviour the run had.

    >>> config_diff({"lr": 1e-4, "seed": 0}, {"lr": 3e-5, "seed": 0})
    ['lr']
    >>> config_diff({"lr": 1e-4}, {"lr": 1e-4, "new": 0}, defaults={"new": 0})
    []
    """
    defaults = defaults or {}
    return sorted(k for k in set(stored) | set(wanted) if k not in ignore and stored.get(k) != wanted.get(k)
                  and not (k not in stored and k in defaults and wanted.get(k) == defaults[k]))


def field_defaults(config_type) -> dict:
    """``{field: value}`` that a config dataclass's field stands for when a stored config lacks it, as JSON
    values: the class's ``ABSENT_MEANS`` entry (the behaviour before the field existed, where the default
    changed since), else its default (fields without a default left out)."""
    out = {f.name: f.default for f in dataclasses.fields(config_type) if f.default is not dataclasses.MISSING}
    return json.loads(json.dumps({**out, **getattr(config_type, "ABSENT_MEANS", {})}))


def check_resume(source: str | Path, stored: dict, config: Config, may_differ: tuple[str, ...]) -> None:
    """Refuse to resume a run from ``source`` whose recorded config ``stored`` differs from ``config``
    in a field outside ``may_differ``: raise ``ValueError`` naming ``source`` and each differing field
    with both values. Values are compared as JSON, so a tuple equals the list it was saved as.

    >>> @dataclasses.dataclass
    ... class Demo(Config):
    ...     lr: float = setting(1e-3, "Learning rate.")
    ...     threads: int = setting(0, "CPU threads.")
    >>> check_resume("run/checkpoint", {"lr": 1e-3, "threads": 1}, Demo(threads=2), ("threads",))
    >>> check_resume("run/checkpoint", {"lr": 1e-3, "threads": 1}, Demo(lr=0.1), ("threads",))
    Traceback (most recent call last):
    ...
    ValueError: run/checkpoint was written with a different config: lr 0.001 (checkpoint) vs 0.1 (now); resume with the run's own settings (--config OUT/config.json) or give another --out
    """
    try:
        stored = json.loads(json.dumps(stored))
    except (TypeError, ValueError):
        stored = None
    if not isinstance(stored, dict):
        raise ValueError(f"{source}: the recorded config is not a JSON object of {type(config).__name__} fields")
    wanted = json.loads(json.dumps(dataclasses.asdict(config)))
    diff = config_diff(stored, wanted, ignore=may_differ, defaults=field_defaults(type(config)))
    if diff:
        shown = ", ".join(f"{k} {stored.get(k, '(unset)')!r} (checkpoint) vs {wanted.get(k, '(unset)')!r} (now)"
                          for k in diff)
        raise ValueError(f"{source} was written with a different config: {shown}; resume with the run's own "
                         "settings (--config OUT/config.json) or give another --out")
