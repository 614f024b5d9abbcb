"""Storage URLs: the PostgreSQL extra, drivers, and passwords never printed or written.

Before, the error for a missing driver, a refused connection, ``--json`` and
report.md all repeated the password of ``--storage postgresql://user:pw@host/db``.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from autometa.errors import RunDirectoryError
from autometa.search.redact import redact_storage, redact_text
from autometa.search.storage import open_storage

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("spec, shown", [
    ("postgresql://autometa:TopSecret99@db:5432/search", "postgresql://autometa:***@db:5432/search"),
    ("postgresql+psycopg://u:p%40ss@h/db", "postgresql+psycopg://u:***@h/db"),
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),  # an unencoded '@' in the password
    ("postgresql://u:x@h:notaport/db", "postgresql://u:***@h:notaport/db"),
    ("postgresql://u@h/db?password=s3cret&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
    ("postgresql://h/db", "postgresql://h/db"),
    ("sqlite:////tmp/a@b/study.db", "sqlite:////tmp/a@b/study.db"),
    ("runs/toy/journal.log", "runs/toy/journal.log"),
])
def test_storage_urls_are_shown_without_secrets(spec, shown):
    assert redact_storage(spec) == shown


def test_secrets_are_removed_from_messages_but_words_are_left_alone():
    spec = "postgresql://u:p%7Bw@h:5432/db"
    text = f"failed for {spec}: password p{{w rejected on port 5432 (p%7Bw)"
    assert redact_text(text, spec) == "failed for postgresql://u:***@h:5432/db: password *** rejected on port 5432 (***)"


def test_the_postgres_extra_installs_the_driver_and_tests_use_it():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("psycopg[binary]") for d in extras["postgres"])
    assert set(extras["postgres"]) <= set(extras["test"])


def test_a_missing_driver_names_the_extra_without_the_password(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(RunDirectoryError) as info:
        open_storage("postgresql://autometa:TopSecret99@127.0.0.1:1/db")
    assert str(info.value) == (
        "storage postgresql://autometa:***@127.0.0.1:1/db: the database driver (psycopg) is not installed; "
        "pip install 'autometa[postgres]'"
    )


def test_a_refused_connection_is_one_line_without_the_password():
    with pytest.raises(RunDirectoryError) as info:
        open_storage("postgresql://autometa:TopSecret99@127.0.0.1:1/db")
    message = str(info.value)
    assert "TopSecret99" not in message and "\n" not in message
    assert message.startswith("storage postgresql://autometa:***@127.0.0.1:1/db: cannot be opened")
    assert "Connection refused" in message and message.endswith("check the URL, the server and your access to the database")
