"""The ``autometa`` command: parses arguments, calls the Python API, renders with rich.

Heavy libraries (torch, optuna) are imported inside the commands that need them,
so ``autometa --help`` answers instantly.
"""

from autometa.cli import experience, plugins, recipe, report, runs  # noqa: F401  (registers the commands)
from autometa.cli.app import app, main

__all__ = ["app", "main"]
