"""Many workers on one PostgreSQL study: throughput, distinct strategies and lost trials, with and without kills.

Three runs of one small search (``glyphs``, short training, the same trial
budget, seed and space), each on its own fresh PostgreSQL database, each worker
an independent ``autometa search recipe.yaml --quiet`` process with the storage
in ``AUTOMETA_STORAGE`` (the command docs/scaling.md gives for SLURM and
Kubernetes):

1. one worker;
2. four workers;
3. four workers, one of them killed with SIGKILL at a random moment, twice; each
   killed worker is replaced by a new process, as a cluster scheduler would.

For each: wall time (first start to last exit), trials per hour, complete trials,
distinct strategies among them, trials lost (the budget minus the complete and
own-failed trials, plus cut-off trials that were never retried) and, for the
kills, how long each killed trial waited before its retry started (heartbeat
grace). Needs a server; start it with the script CI uses:

    bash -c 'source .ci/postgres.sh && start_test_postgres && nice python benchmarks/bench_workers.py --trials 20'
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

RECIPE = {
    "name": "bench-workers",
    "seed": 0,
    "device": "cpu",
    "data": {"dataset": "glyphs"},
    "evaluation": {"ways": 5, "shots": 1, "queries": 5, "val_episodes": 20, "test_episodes": 40},
    "strategy": {
        "learner": {"choice": {"protonet": {}, "anil": {"inner_steps": {"int": [1, 3]}}}},
        "backbone": {"conv4": {"width": {"choice": [8, 16]}}},
        "train_episodes": {"ways": 5, "shots": 1, "queries": 5},
        "meta_batch_size": 2,
        "outer_lr": {"log_uniform": [0.0003, 0.01]},
    },
    "training": {"meta_steps": 60, "eval_every": 10, "checkpoint_every": 10},
    "search": {"sampler": "tpe", "startup_trials": 4, "pruner": "none", "wilcoxon": False,
               "heartbeat_seconds": 5, "grace_seconds": 20},
}


def admin_connection(admin_url: str):
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url)
    return psycopg.connect(host=admin.host, port=admin.port, user=admin.username, password=admin.password,
                           dbname=admin.database, autocommit=True)


def create_database(admin_url: str) -> tuple[str, str]:
    """A new database on the server of ``admin_url``; returns its name and URL."""
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with admin_connection(admin_url) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def start_worker(workdir: Path, storage: str) -> subprocess.Popen:
    autometa = str(Path(sys.executable).with_name("autometa"))
    env = {**os.environ, "AUTOMETA_STORAGE": storage, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([autometa, "search", "recipe.yaml", "--quiet"], cwd=workdir, env=env,
                            stderr=subprocess.PIPE, text=True)


def running_worker(study: optuna.Study, workers: list[subprocess.Popen]) -> subprocess.Popen | None:
    """A live worker that is running a trial with at least one checkpointed validation."""
    busy = {t.user_attrs.get("worker", "").rpartition(":")[2] for t in study.get_trials(deepcopy=False)
            if t.state == TrialState.RUNNING and t.last_step}
    candidates = [w for w in workers if w.poll() is None and str(w.pid) in busy]
    return random.choice(candidates) if candidates else None


def run_scenario(admin_url: str, trials: int, workers: int, kills: int, rng: random.Random) -> dict:
    database, storage = create_database(admin_url)
    monitor = admin_connection(admin_url)
    connections = 0
    workdir = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    recipe = {**RECIPE, "search": {**RECIPE["search"], "trials": trials}}
    (workdir / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
    started = time.perf_counter()
    live = [start_worker(workdir, storage) for _ in range(workers)]
    killed_at: dict[int, float] = {}
    study = None
    while any(w.poll() is None for w in live):
        time.sleep(1.0)
        active = monitor.execute("select count(*) from pg_stat_activity where datname = %s", (database,))
        connections = max(connections, active.fetchone()[0])
        if len(killed_at) >= kills:
            continue
        try:
            study = study or optuna.load_study(study_name="autometa", storage=storage)
        except KeyError:  # not created yet
            continue
        victim = running_worker(study, live) if rng.random() < 0.2 else None
        if victim is not None:
            number = next(t.number for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING
                          and t.user_attrs.get("worker", "").endswith(f":{victim.pid}"))
            victim.kill()
            victim.wait()
            killed_at[number] = time.time()
            live.append(start_worker(workdir, storage))  # the scheduler restarts the task
    seconds = time.perf_counter() - started
    monitor.close()
    failed_workers = [w.returncode for w in live if w.returncode not in (0, -9)]
    all_trials = optuna.load_study(study_name="autometa", storage=storage).get_trials(deepcopy=False)
    complete = [t for t in all_trials if t.state == TrialState.COMPLETE]
    own_failures = [t for t in all_trials if t.state == TrialState.FAIL and "failure" in t.user_attrs]
    retries = {t.system_attrs.get("failed_trial"): t for t in all_trials if "failed_trial" in t.system_attrs}
    cut_off = [t for t in all_trials if t.state == TrialState.FAIL and "failure" not in t.user_attrs
               and "surplus" not in t.user_attrs]
    unretried = [t.number for t in cut_off if t.number not in retries]
    lost = trials - len(complete) - len(own_failures) + len(unretried)
    waits = [round(retries[n].datetime_start.timestamp() - at, 1) for n, at in killed_at.items() if n in retries]
    return {
        "workers": workers,
        "kills": len(killed_at),
        "seconds": round(seconds, 1),
        "trials_per_hour": round(3600 * len(complete) / seconds, 1),
        "complete": len(complete),
        "own_failures": len(own_failures),
        "distinct_strategies": len({json.dumps(t.params, sort_keys=True) for t in complete}),
        "surplus": sum("surplus" in t.user_attrs for t in all_trials),
        "lost": lost,
        "killed_trials_retried": f"{sum(n in retries for n in killed_at)}/{len(killed_at)}",
        "seconds_from_kill_to_retry": waits,
        "failed_worker_exit_codes": failed_workers,
        "max_database_connections": connections,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="the trial budget of every run")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="when the kills happen")
    args = parser.parse_args()
    admin_url = os.environ.get("AUTOMETA_TEST_POSTGRES_URL")
    if not admin_url:
        sys.exit("AUTOMETA_TEST_POSTGRES_URL is not set: start the server with .ci/postgres.sh (see the docstring)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warm = Path(tempfile.mkdtemp(prefix="bench-workers-")) / "recipe.yaml"
    warm.write_text(yaml.safe_dump(RECIPE), encoding="utf-8")  # render and cache the glyphs before any timing
    subprocess.run([str(Path(sys.executable).with_name("autometa")), "recipe", "validate", str(warm)], check=True)
    rng = random.Random(args.seed)
    rows = [run_scenario(admin_url, args.trials, workers, kills, rng)
            for workers, kills in ((1, 0), (args.workers, 0), (args.workers, args.kills))]
    print(json.dumps(rows, indent=2))
    one = rows[0]["trials_per_hour"]
    for row in rows:
        print(f"{row['workers']} workers, {row['kills']} killed: {row['seconds']:.0f} s, "
              f"{row['trials_per_hour']:.0f} trials/h ({row['trials_per_hour'] / one:.2f}x), "
              f"{row['complete']} complete, {row['distinct_strategies']} distinct, lost {row['lost']}, "
              f"killed trials retried {row['killed_trials_retried']} after {row['seconds_from_kill_to_retry']} s")


if __name__ == "__main__":
    main()
