"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TESTS = Path(__file__).parent


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tests use tiny models: one intra-op thread is fastest, and far faster on a busy CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def needs(available: bool, reason: str) -> None:
    """Skip the test when a tool it needs is missing, with ``reason``; fail instead under CI
    (``CI=true``), whose setup installs every tool (.ci/run)."""
    if available:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


#: The searched run the report tests share (see searched_run).
REPORT_RECIPE = {
    "strategy": {"learner": {"search_toy": {"blind": {"choice": [True, False]}, "explode": {"choice": [True, False]}}}},
    "search": {"trials": 7, "pruner": "median", "startup_trials": 2},
}


@pytest.fixture(scope="session")
def searched_run(tmp_path_factory):
    """A tiny search run as a user would, ``autometa search recipe.yaml 2> stderr.txt`` (stderr a file),
    with complete, pruned and failed trials and a compressed winner: ``(run_dir, stderr text)``."""
    from test_search import PLUGIN, write_recipe

    folder = tmp_path_factory.mktemp("searched")
    path = write_recipe(folder, **REPORT_RECIPE)
    recipe = yaml.safe_load(open(path))
    recipe["compression"] = {"pruner": {"magnitude": {"amount": 0.5, "finetune_steps": 0}}}
    open(path, "w").write(yaml.safe_dump(recipe, sort_keys=False))  # key order is suggestion order
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    env.pop("FORCE_COLOR", None)
    env.pop("TTY_COMPATIBLE", None)
    stderr = folder / "stderr.txt"
    with open(stderr, "w") as handle:
        done = subprocess.run([sys.executable, "-m", "autometa.cli", "--plugin", PLUGIN, "search", path],
                              env=env, cwd=folder, stdout=subprocess.PIPE, stderr=handle, text=True, timeout=600)
    assert done.returncode == 0, stderr.read_text()[-3000:]
    return folder / "runs" / "toy", stderr.read_text(encoding="utf-8")


@pytest.fixture(autouse=True, scope="session")
def experience_store(tmp_path_factory):
    """Searches record into a store of the test session's own, never the user's (subprocesses inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTOMETA_EXPERIENCE", str(tmp_path_factory.mktemp("experience") / "experience.db"))
        yield


# ------------------------------------------------------------------ PostgreSQL
#: An admin URL of a running server; .ci/run starts one (.ci/postgres.sh) and exports it.
POSTGRES_ENV = "AUTOMETA_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_admin():
    """The test server's connection details. Without a server the tests skip locally and fail under CI=true,
    so CI cannot go green by skipping them (see needs)."""
    url = os.environ.get(POSTGRES_ENV)
    needs(bool(url), f"{POSTGRES_ENV} not set (start a server: source .ci/postgres.sh && start_test_postgres)")
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
