"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tests use tiny models: one intra-op thread is fastest, and far faster on a busy CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------ PostgreSQL
#: An admin URL of a running server; .ci/run starts one (.ci/postgres.sh) and exports it.
POSTGRES_ENV = "AUTOMETA_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_admin():
    """The test server's connection details. Without a server the tests skip locally and fail under CI=true,
    so CI cannot go green by skipping them."""
    import os

    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{POSTGRES_ENV} is not set: .ci/run must start PostgreSQL before the tests")
        pytest.skip(f"{POSTGRES_ENV} not set (start a server: source .ci/postgres.sh && start_test_postgres)")
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(url)
    conninfo = {"host": admin.host, "port": admin.port, "user": admin.username, "password": admin.password,
                "dbname": admin.database or "postgres", "connect_timeout": 10}
    with psycopg.connect(**conninfo, autocommit=True) as connection:
        connection.execute("select 1")
    return admin, conninfo


@pytest.fixture
def postgres_url(postgres_admin):
    """``postgresql://user:password@host:port/<db>`` (as users write it) of a new database for this test only."""
    import uuid

    import psycopg
    from psycopg import sql

    admin, conninfo = postgres_admin
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(**conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield admin.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(**conninfo, autocommit=True) as connection:  # FORCE: despite open pool connections
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
