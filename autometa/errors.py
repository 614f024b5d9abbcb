"""Errors a user can fix, each with the exit code the command ends with.

Anything raised as an :class:`AutometaError` is printed by the CLI as one line
(no traceback unless ``--debug``) and ends the command with its ``exit_code``:
2 for input the user must change (recipe, data, plugin, storage), 1 for a run
that failed (training diverged, export failed), 130 for Ctrl-C. The message
names the problem *and* the fix.
"""

from __future__ import annotations


class AutometaError(Exception):
    """A problem with the user's input or environment, not a bug in autometa."""

    exit_code = 2


class RecipeError(AutometaError):
    """The recipe is malformed; the message names the YAML path and line."""


class PluginError(AutometaError):
    """A plugin is missing, clashes with another, or failed to load."""


class DataError(AutometaError):
    """A data set is missing, unreadable, or too small for the episode shape."""


class RunDirectoryError(AutometaError):
    """A run directory or its study storage cannot be used as asked."""


class ExperienceError(AutometaError):
    """The experience store cannot be opened, or names no such earlier search."""


class TrainingError(AutometaError):
    """Training stopped for a reason the user can act on (e.g. the loss diverged)."""

    exit_code = 1


class ExportError(AutometaError):
    """An exported predictor failed its verification (logit mismatch or fresh-process load)."""

    exit_code = 1


class SearchFailed(AutometaError):
    """A search ended without a single complete trial: nothing to rank, compress or ship."""

    exit_code = 1


class SearchInterrupted(AutometaError):
    """Ctrl-C: the study is saved; the same command resumes it."""

    exit_code = 130
