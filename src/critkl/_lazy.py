"""Exports imported on first use, so that ``import critkl`` (and the command line) loads no torch."""

from __future__ import annotations

from importlib import import_module


def lazy_exports(package: str, table: dict[str, tuple[str, ...]], namespace: dict):
    """``(__getattr__, __dir__)`` for a package whose names in ``table`` (relative module → names)
    are imported from their module on first access and then cached in ``namespace``.

    >>> getattr_, dir_ = lazy_exports("critkl", {".kl": ("kl_estimate",)}, {})
    >>> getattr_("kl_estimate").__name__
    'kl_estimate'
    """
    source = {name: module for module, names in table.items() for name in names}

    def __getattr__(name: str):
        if name in source:
            value = getattr(import_module(source[name], package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(source))

    return __getattr__, __dir__
