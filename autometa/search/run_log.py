"""The run's log: a search's messages and tracebacks go to ``runs/<name>/search.log``, not the terminal.

Optuna prints a warning with a full traceback when a trial fails or is cut off
by Ctrl-C, even with ``--quiet``, burying the one line autometa owes the user.
During a search, autometa's and Optuna's log records and Python's warnings go
to the run's log file instead (a trial's records also to its own ``log.txt``),
and an error that ends the search is logged there with its traceback. A log file
that cannot be written (a full disk) is skipped silently: the error that matters
reaches the user as one line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna

log = logging.getLogger("autometa.search")

#: The loggers a search writes to its log: autometa's, Optuna's, and Python's warnings.
RUN_LOGGERS = ("autometa", "optuna", "py.warnings")


class QuietFileHandler(logging.FileHandler):
    """A file handler that drops a record it cannot write instead of printing a traceback on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            super().emit(record)  # opening the file (delayed to the first record) is outside logging's guard
        except OSError:
            pass

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        pass


@contextmanager
def file_log(path: Path, loggers: tuple[str, ...] = ("autometa",)) -> Iterator[logging.Logger]:
    """Also write the INFO records of ``loggers`` to ``path`` (appended) while the block runs."""
    handler = QuietFileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    handled = [logging.getLogger(name) for name in loggers]
    autometa = logging.getLogger("autometa")
    previous = autometa.level
    autometa.setLevel(logging.INFO)
    for logger in handled:
        logger.addHandler(handler)
    try:
        yield log
    finally:
        for logger in handled:
            logger.removeHandler(handler)
        autometa.setLevel(previous)
        handler.close()


@contextmanager
def run_log(path: Path) -> Iterator[None]:
    """While the block runs, log to ``path`` instead of the terminal; an error leaving it is logged there
    with its traceback (the command prints it as one line)."""
    optuna.logging.disable_default_handler()
    logging.captureWarnings(True)
    try:
        with file_log(path, RUN_LOGGERS):
            try:
                yield
            except BaseException:
                log.exception("the search stopped")
                raise
    finally:
        logging.captureWarnings(False)
        optuna.logging.enable_default_handler()
