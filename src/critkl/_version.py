"""The critkl distribution's version: packages/critkl/pyproject.toml reads it, ``critkl.__version__``
re-exports it."""

__version__ = "0.1.0"
