"""Typer commands generated from config dataclasses: one option per field, help from the field's metadata.

:func:`config_command` turns ``run(config, **extras)`` into a typer command whose signature it builds from
``dataclasses.fields`` of the config class (see :func:`critkl.configbase.setting` for the metadata), so
a new field reaches ``--help`` and the command line without CLI code. Every generated command also
takes ``--config FILE`` (a JSON object of fields) and ``--set KEY=VALUE`` (repeatable); precedence:
defaults < ``--config`` < ``--set`` / options (giving one field both as ``--set`` and as an option
is an error). An option counts only when given on the command line (click's parameter source), so
the defaults shown in ``--help`` never override a config file.

Why typer and not tyro: critkl's other commands and htc's CLI are typer, so this small adapter
keeps one framework, one help style and no new dependency, where tyro (not installed) would add a
package and a second parser whose help and error output differ from the rest of the command line.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path

import typer

from .configbase import field_types, parse_settings, read_fields

# names of the generated command's own parameters; a config field may not use them
CONFIG_PARAM, SET_PARAM, CONTEXT_PARAM, PRESET_PARAM = "config_file", "settings", "typer_context", "preset"
_SIMPLE = (bool, int, float, str, Path)


def fail(message: str) -> typing.NoReturn:
    """Print ``error: message`` (on one line) in red on stderr and exit with status 2 (a usage error)."""
    message = " ".join(line.strip() for line in str(message).splitlines() if line.strip())
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(2)


def option_name(field: dataclasses.Field) -> str:
    """The command-line option of a config field: ``metadata["option"]`` or ``--field-name``."""
    return field.metadata.get("option") or "--" + field.name.replace("_", "-")


def _supported(tp) -> bool:
    args = typing.get_args(tp)
    if tp in _SIMPLE:
        return True
    if typing.get_origin(tp) is tuple:
        return all(a in _SIMPLE for a in args) and Ellipsis not in args
    if type(None) in args:  # X | None
        rest = [a for a in args if a is not type(None)]
        return len(rest) == 1 and _supported(rest[0])
    return False


def _is_bool(tp) -> bool:
    return tp is bool or (type(None) in typing.get_args(tp) and bool in typing.get_args(tp))


def _decls(name: str, tp) -> list[str]:
    return [f"{name}/--no-{name[2:]}"] if _is_bool(tp) else [name]


def _field_default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _preset(presets: dict[str, dict], name: str) -> dict:
    if name not in presets:
        raise ValueError(f"--preset must be one of {', '.join(presets)}, got {name!r}")
    return presets[name]


def config_command(cls, run: typing.Callable, panel: str | None = None,
                   presets: dict[str, dict] | None = None, preset_help: str = "") -> typing.Callable:
    """A typer command calling ``run(config, **extras)`` with ``config = cls(...)`` from the command line.

    ``run``'s first parameter receives the config; its other parameters (typer options, e.g.
    ``resume: bool = typer.Option(False)``) are kept as they are. Fields with ``cli=False`` in their
    metadata have no option (``--config``/``--set`` still reach them). A ``ValueError`` or
    ``FileNotFoundError`` from the config, or a ``ValueError`` or ``OSError`` from ``run``, ends the
    command with one ``error: ...`` line and status 2. The help panel of the fields is ``panel``
    (default: the class name). With ``presets`` (name → field values; the first is the defaults), a
    ``--preset NAME`` option sets its fields under ``--config``, ``--set`` and the options.
    """
    hints = field_types(cls)
    panel = panel or f"{cls.__name__} fields"
    run_sig = inspect.signature(run)
    run_hints = typing.get_type_hints(run, include_extras=True)
    extras = list(run_sig.parameters.values())[1:]
    params: list[inspect.Parameter] = []
    field_options: dict[str, str] = {}  # field (= parameter) → its option
    alias_params: dict[str, tuple[str, str]] = {}  # parameter → (field, alias)
    reserved = {p.name for p in extras} | {CONTEXT_PARAM}

    def add(name: str, annotation, default) -> None:
        if name in reserved:
            raise TypeError(f"{cls.__name__}.{name}: the name is taken by the command's own options")
        reserved.add(name)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=annotation))

    params.append(inspect.Parameter(CONTEXT_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
    add(CONFIG_PARAM, Path | None, typer.Option(
        None, "--config", metavar="FILE",
        help=f"JSON object of {cls.__name__} fields (e.g. a run's config.json); the options override it."))
    if presets:
        names = list(presets)
        add(PRESET_PARAM, str, typer.Option(
            names[0], "--preset", metavar="|".join(names),
            help=preset_help or f"Named settings under --config, --set and the options: {', '.join(names)}."))
    add(SET_PARAM, list[str] | None, typer.Option(
        None, "--set", metavar="KEY=VALUE",
        help=f"Set any {cls.__name__} field, also those without an option (repeatable; the value is JSON "
             "or a plain string), e.g. --set lr=3e-5."))
    for f in dataclasses.fields(cls):
        if not f.init or f.metadata.get("cli", True) is False:
            continue
        tp = hints[f.name]
        if not _supported(tp):
            raise TypeError(f"{cls.__name__}.{f.name}: type {tp} has no command-line form; give the field "
                            "cli=False (it stays reachable through --config and --set)")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        help_text = f.metadata.get("help", "") + (" [required]" if required else "")
        field_options[f.name] = option_name(f)
        decls = _decls(option_name(f), tp) + ([f.metadata["short"]] if f.metadata.get("short") else [])
        add(f.name, tp if not required else tp | None, typer.Option(
            _field_default(f), *decls, help=help_text, rich_help_panel=panel, show_default=not required))
        for alias in f.metadata.get("aliases", ()):
            pname = f"{f.name}__{alias.lstrip('-').replace('-', '_')}"
            alias_params[pname] = (f.name, alias)
            add(pname, tp | None, typer.Option(None, *_decls(alias, tp), hidden=True))
    for p in extras:
        params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=run_hints.get(p.name, p.annotation)))

    def command(**kwargs):
        ctx = kwargs.pop(CONTEXT_PARAM)

        def given(name: str) -> bool:  # on the command line, not the default shown in --help
            source = ctx.get_parameter_source(name)
            return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")

        try:
            values = dict(_preset(presets, kwargs[PRESET_PARAM])) if presets else {}
            values |= read_fields(cls, kwargs[CONFIG_PARAM]) if kwargs[CONFIG_PARAM] else {}
            settings = parse_settings(kwargs[SET_PARAM] or [], cls)
            flags: dict[str, object] = {}
            spelled: dict[str, str] = {}
            for fname, option in field_options.items():
                if given(fname):
                    flags[fname], spelled[fname] = kwargs[fname], option
            for pname, (fname, alias) in alias_params.items():
                if given(pname):
                    if fname in flags:
                        raise ValueError(f"{alias} is an older name of {spelled[fname]}; give one of them")
                    flags[fname], spelled[fname] = kwargs[pname], alias
            twice = sorted(set(flags) & set(settings))
            if twice:
                raise ValueError(f"{twice[0]} is given twice: as {spelled[twice[0]]} and as --set {twice[0]}=...")
            values |= settings | flags
            missing = [option_name(f) for f in dataclasses.fields(cls) if f.init and f.name not in values
                       and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
            if missing:
                raise ValueError(f"missing {', '.join(missing)} (or the field in --config / --set)")
            config = cls(**values)
        except (ValueError, FileNotFoundError) as e:
            fail(str(e))
        try:
            return run(config, **{p.name: kwargs[p.name] for p in extras})
        except (ValueError, OSError) as e:  # OSError: FileNotFoundError, a folder that cannot be written
            fail(str(e))

    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__ = run.__name__.lstrip("_")
    command.__qualname__ = command.__name__
    command.__doc__ = run.__doc__
    command.__module__ = run.__module__
    return command

