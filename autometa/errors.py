"""Errors a user can fix.

Anything raised as an :class:`AutometaError` is printed by the CLI as one line
(no traceback unless ``--debug``) and ends the command with its ``exit_code``.
The message should name the problem *and* the fix.
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


class TrainingError(AutometaError):
    """Training stopped for a reason the user can act on (e.g. the loss diverged)."""

    exit_code = 1
