"""The htc distribution's version: packages/htc/pyproject.toml reads it, ``htc.__version__``
re-exports it."""

__version__ = "0.1.0"
