"""Optional dependencies of the ``htc`` distribution: which extra brings which module.

``pip install htc`` is the core (NumPy, SciPy, numba, typer, rich). ``htc[train]`` adds what
``htc.losses``, ``htc.encoders`` and ``htc.training`` need (torch, transformers, …); ``htc[study]``
what ``htc multipath-study`` needs (scikit-learn, matplotlib). A missing one is reported in one line
that names the extra, not as a bare ``No module named 'torch'``.
"""

from __future__ import annotations

import importlib.util

#: top-level module → the distribution that provides it (all in ``htc[train]``)
OPTIONAL_MODULES = {
    "torch": "torch",
    "transformers": "transformers",
    "accelerate": "accelerate",
    "safetensors": "safetensors",
    "sklearn": "scikit-learn",
    "matplotlib": "matplotlib",
}


class MissingExtraError(ModuleNotFoundError):
    """An optional dependency is not installed; the message says which extra to install."""


def missing_extra(err: ModuleNotFoundError, what: str, extra: str = "train") -> MissingExtraError | None:
    """The one-line error for ``what`` (``"htc train"``, ``"htc.losses"``) when ``err`` is about an
    optional module, else ``None`` (a genuine bug, to re-raise as is)."""
    top = (err.name or "").partition(".")[0]
    if top not in OPTIONAL_MODULES:
        return None
    return MissingExtraError(f"{what} needs {OPTIONAL_MODULES[top]}, which is not installed: "
                             f"pip install 'htc[{extra}]'", name=top)


def require(what: str, *modules: str, extra: str = "train") -> None:
    """Raise :class:`MissingExtraError` naming ``extra`` unless every module of ``modules`` is
    installed (checked without importing it)."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise missing_extra(ModuleNotFoundError(name=module), what, extra)
