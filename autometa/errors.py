"""Errors a user can fix, each with the exit code the command ends with.

Anything raised as an :class:`AutometaError` is printed by the CLI as one line
(no traceback unless ``--debug``) and ends the command with its ``exit_code``:
2 for input the user must change (recipe, data, plugin, storage), 1 for a run
that failed (training diverged, export failed, the disk filled up), 130 for
Ctrl-C. The message names the problem *and* the fix. An ``OSError`` becomes one
through :func:`file_system_error`.
"""

from __future__ import annotations

import errno


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


class WorkerError(AutometaError):
    """A worker process of a search failed; its traceback is in the run's log."""

    exit_code = 1


class SearchFailed(AutometaError):
    """A search ended without a single complete trial: nothing to rank, compress or ship."""

    exit_code = 1


class SearchInterrupted(AutometaError):
    """Ctrl-C: the study is saved; the same command resumes it."""

    exit_code = 130


class ArtifactError(AutometaError):
    """A file handed to autometa (an exported predictor, a checkpoint) is corrupt or of another kind."""


class FileSystemError(AutometaError):
    """A file or folder could not be read or written: permission, not a directory, a full disk."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type name if empty), at most ``limit`` characters."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


#: errno -> (exit code, what went wrong, the fix). A full disk is a run that failed (1): the same
#: command succeeds once space is freed. The others are a path the user must change (2).
_OS_ERRORS = {
    errno.ENOSPC: (1, "no space left on the device", "free some space, then run the same command again"),
    errno.EDQUOT: (1, "disk quota exceeded", "free some space, then run the same command again"),
    errno.EACCES: (2, "permission denied", "choose a path you may write to, or fix its permissions"),
    errno.EPERM: (2, "operation not permitted", "choose a path you may write to, or fix its permissions"),
    errno.EROFS: (2, "read-only file system", "choose a writable output_dir"),
    errno.ENOTDIR: (2, "a part of the path is a file, not a folder", "choose another output_dir"),
    errno.EEXIST: (2, "a file is in the way of a folder", "choose another output_dir"),
    errno.EISDIR: (2, "is a folder, not a file", "pass a file"),
    errno.ENOENT: (2, "no such file or folder", "check the path"),
    errno.ENAMETOOLONG: (2, "file name too long", "choose a shorter output_dir or name"),
}


def file_system_error(exc: OSError) -> FileSystemError:
    """One line for an ``OSError``: the file, what went wrong and the fix, with its exit code."""
    code, problem, fix = _OS_ERRORS.get(
        exc.errno or 0, (1, exc.strerror or type(exc).__name__, "check the disk and the path, then run it again")
    )
    where = f"{exc.filename}: " if exc.filename else ""
    return FileSystemError(f"{where}{problem}; {fix}", code)
