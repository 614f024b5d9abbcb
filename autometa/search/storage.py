"""Where a study lives: a database URL (with heartbeats) or a journal file, opened with one clear error.

A database URL (``sqlite:///...``, ``postgresql://...``) gets heartbeats: a
running trial records one every ``search.heartbeat_seconds``, and a trial silent
for ``search.grace_seconds`` is failed and re-queued by whichever process notices
it (:mod:`autometa.search.retries`). SQLAlchemy 2.1 reads ``postgresql://`` with
psycopg 3 (``pip install 'autometa[postgres]'``). A plain path is an Optuna
journal file, which has no heartbeats: it is still read for runs that made one,
and a local worker that dies there has its trial failed by its parent process.
Nothing here prints a password (:mod:`autometa.search.redact`).
"""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import sqlalchemy
from optuna.storages import BaseStorage, RDBStorage

from autometa.errors import RunDirectoryError, first_line
from autometa.recipe.schema import SearchSection
from autometa.search.redact import redact_storage, redact_text
from autometa.search.retries import experimental_optuna, retry_callback

#: Attempts at opening a new database whose tables another worker is creating at the same moment.
SCHEMA_ATTEMPTS = 3
#: SQLite: several worker processes may write at once; wait for the file lock rather than fail.
SQLITE_ENGINE = {"connect_args": {"timeout": 60}}
#: A database server: a small connection pool per worker (many workers share the server's
#: max_connections), each connection checked before use (one idle through a long trial may be gone).
SERVER_ENGINE = {"pool_size": 2, "max_overflow": 2, "pool_pre_ping": True}
#: What installs the driver of a URL scheme (SQLAlchemy 2.1 reads postgresql:// with psycopg 3).
DRIVERS = {scheme: "pip install 'autometa[postgres]'" for scheme in ("postgresql", "postgresql+psycopg")}


def is_database_url(spec: str) -> bool:
    return "://" in spec


def sqlite_path(spec: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for other storages)."""
    return Path(spec.removeprefix("sqlite:///")) if spec.startswith("sqlite:///") else None


def open_storage(spec: str, search: SearchSection | None = None) -> BaseStorage:
    """Open ``spec``; a database gets heartbeats timed by ``search`` (the defaults without one)."""
    search = search or SearchSection()
    if not is_database_url(spec):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(spec))
    engine = SQLITE_ENGINE if spec.startswith("sqlite") else SERVER_ENGINE
    try:
        for attempt in range(SCHEMA_ATTEMPTS):
            try:
                with experimental_optuna():
                    return RDBStorage(
                        # Optuna fills "{SCHEMA_VERSION}" into the URL with str.format: a brace in a password survives
                        spec.replace("{", "{{").replace("}", "}}"),
                        engine_kwargs=engine,
                        heartbeat_interval=search.heartbeat_seconds,
                        grace_period=search.grace_seconds,
                        heartbeat_stale_trial_callback=retry_callback(),
                    )
            except sqlalchemy.exc.IntegrityError:  # workers started together: another one is creating the tables
                if attempt == SCHEMA_ATTEMPTS - 1:
                    raise
                time.sleep(1.0 + attempt)
    except ImportError as exc:
        module = getattr(exc.__cause__, "name", None) or "its driver"
        fix = DRIVERS.get(spec.split("://", 1)[0], f"install the Python module '{module}'")
        raise RunDirectoryError(
            f"storage {redact_storage(spec)}: the database driver ({module}) is not installed; {fix}"
        ) from None
    except Exception as exc:  # sqlalchemy, connection and version errors
        raise storage_error(spec, exc) from None


def storage_error(spec: str, exc: BaseException) -> RunDirectoryError:
    """One line for a storage that cannot be used: the reason, without secrets, and the fix."""
    reason = redact_text(first_line(exc), spec)
    if sqlite_path(spec) is not None or not is_database_url(spec):
        fix = "restore it from a backup, or pass another --storage"
    else:
        fix = "check the URL, the server and your access to the database"
    return RunDirectoryError(f"storage {redact_storage(spec)}: cannot be opened as an Optuna study ({reason}); {fix}")


def has_heartbeats(storage: BaseStorage) -> bool:
    """Whether a dead process's trial is failed by the others (database storage) or waits for its parent."""
    return isinstance(storage, RDBStorage) and storage.get_heartbeat_interval() is not None


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail (and re-queue) the trials whose heartbeat stopped; Optuna does it before each trial, a waiting
    worker between polls (a no-op without heartbeats)."""
    with experimental_optuna():
        optuna.storages.fail_stale_trials(study)
