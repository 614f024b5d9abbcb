"""PostgreSQL storage against a real server (.ci/run starts one; see conftest.py's ``postgres_url``).

Several `autometa search` processes on one study, as a SLURM array or a
Kubernetes Job runs them (docs/scaling.md): the exact budget with distinct
strategies; kill -9 of one mid-trial loses nothing; another recipe is refused;
the password appears nowhere.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
from optuna.trial import TrialState
from test_search import PLUGIN, toy_plugin, write_recipe  # noqa: F401 (the autouse fixture loads the toy plugin)
from test_search_processes import SLOW_TOY, environment, outer_lrs, wait_for, worker_pids

from autometa.plugins import default_host
from autometa.search import STUDY_NAME, run_search

#: The docs' worker command (docs/scaling.md); the storage comes from AUTOMETA_STORAGE.
WORKER = [str(Path(sys.executable).with_name("autometa")), "--plugin", PLUGIN, "search", "recipe.yaml", "--quiet"]


def recipe_yaml(tmp_path, **options) -> None:
    """The toy recipe (run name ``toy``) as ``recipe.yaml``, the file the worker command names."""
    Path(write_recipe(tmp_path, **options)).rename(tmp_path / "recipe.yaml")


def start_workers(tmp_path, storage: str, count: int) -> list[subprocess.Popen]:
    env = {**environment(), "AUTOMETA_STORAGE": storage}
    return [subprocess.Popen(WORKER, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True) for _ in range(count)]


def trials_of(storage: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=STUDY_NAME, storage=storage).trials


def test_a_search_on_postgresql_as_users_write_the_url_never_shows_the_password(tmp_path, postgres_url):
    password = postgres_url.split("://", 1)[1].split("@")[0].split(":", 1)[1]
    assert postgres_url.startswith("postgresql://") and password
    summary = run_search(write_recipe(tmp_path), default_host(), storage=postgres_url, quiet=True)
    assert summary.counts()["complete"] == 2 and summary.storage.startswith("postgresql://autometa:***@")
    run = tmp_path / "runs" / "toy"
    written = [json.dumps(summary.as_dict())] + [p.read_text(errors="replace") for p in run.rglob("*") if p.is_file()
                                                  and p.suffix in (".md", ".json", ".log", ".txt", ".yaml")]
    assert not any(password in text for text in written)
    assert "postgresql://autometa:***@" in (run / "report.md").read_text()


def test_workers_on_one_postgresql_study_finish_exactly_the_budget_with_distinct_strategies(tmp_path, postgres_url):
    recipe_yaml(tmp_path, strategy=SLOW_TOY, search={"trials": 6})
    workers = start_workers(tmp_path, postgres_url, 3)
    for worker in workers:
        assert worker.wait(timeout=400) == 0, worker.stderr.read()
        assert worker.stderr.read() == ""
    trials = trials_of(postgres_url)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 6 and not [t for t in trials if t.state == TrialState.RUNNING]
    assert len(set(outer_lrs(complete))) == 6
    assert len(set(worker_pids(tmp_path / "runs" / "toy").values())) >= 2


def test_kill_9_of_a_postgresql_worker_loses_nothing(tmp_path, postgres_url):
    recipe_yaml(tmp_path, strategy=SLOW_TOY, search={"trials": 4, "heartbeat_seconds": 1, "grace_seconds": 4})
    run = tmp_path / "runs" / "toy"
    workers = start_workers(tmp_path, postgres_url, 2)
    victim = wait_for(lambda: next((n for n in worker_pids(run) if (run / "trials" / str(n) / "checkpoint.pt").exists()
                                    and not (run / "trials" / str(n) / "metrics.json").exists()), None),
                      "a trial with a checkpoint", process=workers[0])
    pid = worker_pids(run)[victim]
    os.kill(pid, signal.SIGKILL)
    survivor = next(w for w in workers if w.pid != pid)
    assert survivor.wait(timeout=400) == 0, survivor.stderr.read()
    for worker in workers:
        worker.wait(timeout=60)
    trials = {t.number: t for t in trials_of(postgres_url)}
    assert trials[victim].state == TrialState.FAIL  # failed by the survivor's heartbeat check ...
    (retry,) = [t for t in trials.values() if t.system_attrs.get("failed_trial") == victim]
    assert retry.state == TrialState.COMPLETE and retry.params == trials[victim].params  # ... and retried
    assert "resuming from its checkpoint" in (run / "trials" / str(retry.number) / "log.txt").read_text()
    assert sum(t.state == TrialState.COMPLETE for t in trials.values()) == 4


def test_a_different_recipe_on_the_same_postgresql_storage_is_refused(tmp_path, postgres_url):
    run_search(write_recipe(tmp_path), default_host(), storage=postgres_url, quiet=True)
    before = [(t.number, t.state) for t in trials_of(postgres_url)]
    recipe_yaml(tmp_path, name="b", strategy={"outer_lr": {"log_uniform": [0.2, 0.5]}})
    (refused,) = start_workers(tmp_path, postgres_url, 1)
    _, stderr = refused.communicate(timeout=120)
    assert refused.returncode == 2 and stderr.count("\n") == 1, stderr
    assert "holds the search of recipe 'toy', a different problem" in stderr and "autometa:***@" in stderr
    assert [(t.number, t.state) for t in trials_of(postgres_url)] == before
    assert not (tmp_path / "runs" / "b").exists()
