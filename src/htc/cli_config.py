"""Command-line options generated from a config dataclass: ``htc train``'s from ``TrainConfig``.

:func:`config_options` gives a typer command one option per field of the class (``--field-name``,
help from ``metadata["help"]``, the field's default shown): a bool is ``--x/--no-x``, a string with
``metadata["choices"]`` names them in its help, ``X | None`` defaults to None. The command receives
the options given on the command line (not the defaults shown in ``--help``, so that they never
override a ``--config`` file) and :func:`build_config` makes the config from them, so a new field
reaches ``htc train --help`` and the config without any CLI code. Values are checked by the
config's ``__post_init__``; a bad one ends the command with one line that names the option
(``error: --epochs must be >= 1, got 0``).

Why typer with this adapter rather than tyro: typer is already htc's command-line library and a
core dependency, so a few dozen lines keep one parser, one help and error style and no new
dependency, where tyro (not installed) would add a package and a second parser for one command.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing

import typer

_CTX = "_config_context"  # the generated command's typer.Context parameter
_METAVAR = {int: "INTEGER", float: "FLOAT", str: "TEXT"}
_KW = inspect.Parameter.KEYWORD_ONLY


def option_name(field: dataclasses.Field) -> str:
    return "--" + field.name.replace("_", "-")


def _base(tp):
    """``X`` of ``X | None``, else ``tp``."""
    rest = [a for a in typing.get_args(tp) if a is not type(None)]
    return rest[0] if len(rest) == 1 and type(None) in typing.get_args(tp) else tp


def _parameter(field: dataclasses.Field, tp, panel: str) -> inspect.Parameter:
    base, name = _base(tp), option_name(field)
    if base not in (bool, int, float, str):
        raise TypeError(f"{field.name}: type {tp} has no command-line form")
    if field.default is dataclasses.MISSING:
        raise TypeError(f"{field.name}: a field needs a default to become an option")
    help_text, choices = field.metadata.get("help", ""), field.metadata.get("choices", ())
    if not all(c in help_text for c in choices):  # unless the help text names them all
        help_text += f": {', '.join(choices)}"
    if base is bool:
        decls, annotation, metavar = [f"{name}/--no-{name[2:]}"], bool, None
    else:  # parsed by build_config, so that a bad number is a one-line error too
        decls, annotation = [name], str | None
        metavar = "NAME" if choices else _METAVAR[base]
    return inspect.Parameter(field.name, _KW, annotation=annotation, default=typer.Option(
        field.default, *decls, help=help_text, metavar=metavar, rich_help_panel=panel))


def config_options(cls, into: str = "options"):
    """Decorator: the command gets one option per field of ``cls``; the function receives those
    given on the command line as the dict ``into`` (field → value as typed) for
    :func:`build_config`. Its other parameters stay as they are."""
    hints = typing.get_type_hints(cls)
    generated = [_parameter(f, hints[f.name], f"{cls.__name__} fields")
                 for f in dataclasses.fields(cls) if f.init]

    def decorate(fn):
        own_hints = typing.get_type_hints(fn)
        own = [p.replace(kind=_KW, annotation=own_hints.get(p.name, p.annotation))
               for p in inspect.signature(fn).parameters.values() if p.name != into]
        taken = {p.name for p in own} & {p.name for p in generated}
        if taken:
            raise TypeError(f"{cls.__name__} fields {sorted(taken)} clash with options of "
                            f"{fn.__name__}")

        @functools.wraps(fn)
        def command(**kwargs):
            ctx = kwargs.pop(_CTX)
            given = {}
            for p in generated:
                value = kwargs.pop(p.name)
                source = ctx.get_parameter_source(p.name)
                if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
                    given[p.name] = value
            return fn(**kwargs, **{into: given})

        params = [inspect.Parameter(_CTX, _KW, annotation=typer.Context), *own, *generated]
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return decorate


def build_config(cls, given: dict, base: dict | None = None):
    """``cls(**base)`` with the options ``given`` on top (numbers parsed here); a ``ValueError``
    about a field given as an option names the option instead of the field."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = dict(base or {})
    for name, raw in given.items():
        kind = _base(hints[name])
        if kind in (int, float) and raw is not None:
            try:
                raw = kind(raw)
            except ValueError:
                raise ValueError(f"{option_name(fields[name])} must be "
                                 f"{'an integer' if kind is int else 'a number'}, got {raw!r}") from None
        values[name] = raw
    try:
        return cls(**values)
    except ValueError as err:
        name, _, rest = str(err).partition(" ")
        if name in given:
            raise ValueError(f"{option_name(fields[name])} {rest}") from None
        raise
