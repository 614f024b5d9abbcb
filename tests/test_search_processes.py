"""`autometa search` as processes: kill -9 of a search, of a worker and of the parent of workers; several
processes on one storage; Ctrl-C and a diverging trial print no traceback.

The subprocesses load the toy plugins of `test_search.py` with `--plugin test_search`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from test_search import PLUGIN, write_recipe

from autometa.plugins import default_host
from autometa.search import STUDY_NAME, count_finished, open_storage, requeue_unfinished, run_search
from autometa.search.retries import WORKER_ATTR, fail_trials_of, worker_id

TESTS = Path(__file__).parent
SLOW_TOY = {"learner": {"search_toy": {"sleep": 0.3}}}  # about 1.5 s a trial: long enough to be caught mid-way


def search_command(recipe: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "autometa.cli", "--plugin", PLUGIN, "search", recipe, "--quiet", *extra]


def environment() -> dict[str, str]:
    """Find the toy plugins; one intra-op thread (tiny tensors, busy machine)."""
    path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def wait_for(condition, what: str, timeout: float = 180, process: subprocess.Popen | None = None):
    deadline = time.time() + timeout
    while not (found := condition()):
        assert time.time() < deadline, f"timed out waiting for {what}"
        assert process is None or process.poll() is None, f"the search ended before {what}"
        time.sleep(0.05)
    return found


def worker_pids(run: Path) -> dict[int, int]:
    """{trial number: pid of the process that ran it}, from the trials' logs."""
    pids = {}
    for log in run.glob("trials/*/log.txt"):
        found = re.search(r"\(process [^:]+:(\d+)\)", log.read_text())
        if found:
            pids[int(log.parent.name)] = int(found.group(1))
    return pids


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left to a container's init counts as dead)."""
    try:
        return not Path(f"/proc/{pid}/status").read_text().split("State:")[1].strip().startswith("Z")
    except (FileNotFoundError, IndexError):
        return False


def trials_of(storage: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=STUDY_NAME, storage=storage).trials


def outer_lrs(trials) -> list[float]:
    return [t.params["outer_lr"] for t in trials if "outer_lr" in t.params]


def test_sigkill_mid_trial_then_rerun_finishes_with_earlier_trials_intact(tmp_path):
    strategy = {"learner": {"search_toy": {"sleep": 0.2}}}
    recipe = write_recipe(tmp_path, strategy=strategy, search={"trials": 3})
    run = tmp_path / "runs" / "toy"
    process = subprocess.Popen(search_command(recipe), env=environment(), cwd=tmp_path)
    wait_for(lambda: (run / "trials" / "1" / "checkpoint.pt").exists(), "trial 1's checkpoint", process=process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    storage = f"sqlite:///{run / 'study.db'}"
    before = {t.number: (t.state, t.values) for t in trials_of(storage)}
    assert before[0][0] == TrialState.COMPLETE and before[1][0] == TrialState.RUNNING

    done = subprocess.run(search_command(recipe, "--json"), env=environment(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    after = {t["number"]: t for t in summary["trials"]}
    assert after[0]["values"] == before[0][1] and after[0]["state"] == "complete"  # untouched
    assert after[1]["state"] == "failed" and "retried" in after[1]["reason"]
    assert summary["counts"]["complete"] == 3 and len(after) == 4
    assert "resuming from its checkpoint" in (run / "trials" / "2" / "log.txt").read_text()
    assert len(set(outer_lrs(trials_of(storage)))) == 3  # the rerun drew new strategies (the retry repeats one)


def test_workers_share_the_budget_and_a_killed_one_loses_nothing(tmp_path):
    recipe = write_recipe(tmp_path, strategy=SLOW_TOY, search={"trials": 4})
    run = tmp_path / "runs" / "toy"
    process = subprocess.Popen(search_command(recipe, "--workers", "2"), env=environment(), cwd=tmp_path,
                               stderr=subprocess.PIPE, text=True)
    victim = wait_for(lambda: next((n for n in worker_pids(run) if (run / "trials" / str(n) / "checkpoint.pt").exists()
                                    and not (run / "trials" / str(n) / "metrics.json").exists()), None),
                      "a trial with a checkpoint", process=process)
    os.kill(worker_pids(run)[victim], signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0 and stderr == "", stderr
    storage = f"sqlite:///{run / 'study.db'}"  # the run's SQLite file: heartbeats, unlike a journal
    trials = {t.number: t for t in trials_of(storage)}
    assert len(set(worker_pids(run).values())) >= 2 and process.pid not in worker_pids(run).values()
    assert trials[victim].state == TrialState.FAIL and "failure" not in trials[victim].user_attrs
    (retry,) = [t for t in trials.values() if t.system_attrs.get("failed_trial") == victim]
    assert retry.state == TrialState.COMPLETE and retry.params == trials[victim].params
    assert "resuming from its checkpoint" in (run / "trials" / str(retry.number) / "log.txt").read_text()
    complete = [t for t in trials.values() if t.state == TrialState.COMPLETE]
    assert len(complete) == 4 and len(set(outer_lrs(complete))) == 4  # exactly the budget, no strategy twice


def test_killing_the_parent_stops_its_workers_and_a_rerun_finishes(tmp_path):
    recipe = write_recipe(tmp_path, strategy={"learner": {"search_toy": {"sleep": 1.0}}}, search={"trials": 2},
                          training={"meta_steps": 40, "eval_every": 2, "checkpoint_every": 2})
    run = tmp_path / "runs" / "toy"
    process = subprocess.Popen(search_command(recipe, "--workers", "2"), env=environment(), cwd=tmp_path)
    pids = wait_for(lambda: set(worker_pids(run).values()) if len(worker_pids(run)) == 2 else None,
                    "two running trials", process=process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # a trial takes 40 s: orphans would still be training after 30 s
    wait_for(lambda: not any(alive(pid) for pid in pids), "the workers to end", timeout=30)
    storage = f"sqlite:///{run / 'study.db'}"
    assert not [t for t in trials_of(storage) if t.state == TrialState.COMPLETE]

    done = subprocess.run(search_command(recipe, "--workers", "2"), env=environment(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr + (run / "search.log").read_text()[-3000:]
    assert count_finished(optuna.load_study(study_name=STUDY_NAME, storage=storage)) == 2


def test_independent_processes_on_one_storage_share_its_budget(tmp_path):
    """Two commands on one storage, as on two machines (each its own output_dir): 5 trials in all, not 5 each."""
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    processes = []
    for machine in ("a", "b"):
        (tmp_path / machine).mkdir()
        recipe = write_recipe(tmp_path / machine, strategy=SLOW_TOY, search={"trials": 5})
        processes.append(subprocess.Popen(search_command(recipe, "--storage", storage), env=environment(),
                                          cwd=tmp_path / machine, stderr=subprocess.PIPE, text=True))
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    trials = trials_of(storage)
    counted = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(counted) == 5 and all(t.state != TrialState.RUNNING for t in trials)
    assert len(set(outer_lrs(counted))) == 5
    assert all(worker_pids(tmp_path / machine / "runs" / "toy") for machine in ("a", "b"))


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C; a scheduler's stop (SLURM, Kubernetes)
def test_ctrl_c_and_a_diverging_trial_print_no_traceback(tmp_path, stop):
    strategy = {"learner": {"search_toy": {"diverge": {"choice": [True, False]}, "sleep": 0.3}}}
    # more trials than run before the signal, so it never lands after the last one on a slow machine
    recipe = write_recipe(tmp_path, strategy=strategy, search={"trials": 30}, training={"meta_steps": 6})
    run = tmp_path / "runs" / "toy"
    # Ctrl-C as a terminal's foreground command gets it: a test run started in the background
    # (`cmd &`) ignores SIGINT, and its children would inherit that
    process = subprocess.Popen(search_command(recipe), env=environment(), cwd=tmp_path, stderr=subprocess.PIPE,
                               text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def diverged_and_running():
        states = [json.loads(p.read_text())["state"] for p in run.glob("trials/*/metrics.json")]
        running = [p for p in run.glob("trials/*/checkpoint.pt") if not (p.parent / "metrics.json").exists()]
        return "failed" in states and running

    wait_for(diverged_and_running, "a diverged trial and a running one", process=process)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr + (run / "search.log").read_text()[-3000:]
    assert stderr.startswith("error: search interrupted;") and stderr.count("\n") == 1, stderr
    assert "Traceback" in (run / "search.log").read_text()  # Optuna's and autometa's, kept in the run's log
    trials = trials_of(f"sqlite:///{run / 'study.db'}")
    (cut_off,) = [t for t in trials if t.state == TrialState.FAIL and "failure" not in t.user_attrs]
    (retry,) = [t for t in trials if t.state == TrialState.WAITING]  # queued at once, for any worker to take
    assert retry.system_attrs["failed_trial"] == cut_off.number


def test_a_dead_process_trial_on_a_journal_is_failed_and_retried(tmp_path):
    """A journal has no heartbeats: the trial of a process of this machine that is gone is found by its pid."""
    storage = open_storage(str(tmp_path / "journal.log"))
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for pid in (gone.pid, os.getpid()):  # a dead process's trial, and a live one's
        trial = study.ask()
        trial.suggest_float("outer_lr", 0.001, 0.1)
        trial.set_user_attr(WORKER_ATTR, worker_id(pid))
    assert requeue_unfinished(study, orphans=False) == [0]
    states = [t.state for t in optuna.load_study(study_name=STUDY_NAME, storage=storage).trials]
    assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING]
    assert fail_trials_of(study, worker_id(os.getpid())) == [1]  # a dead local worker, as its parent sees it


def test_each_worker_runs_the_recipes_observers(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    default_host().load_module(PLUGIN)
    sys.path.insert(0, str(TESTS))
    try:
        recipe = write_recipe(tmp_path, search={"trials": 2, "observers": ["trial_file"]})
        summary = run_search(recipe, default_host(), workers=2, quiet=True)
    finally:
        default_host().reset()
    run = tmp_path / "runs" / "toy"
    assert summary.counts()["complete"] == 2 and len(summary.trials) == 2
    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(f"sqlite:///{run / 'study.db'}"))
    logs = [(run / "trials" / str(t.number) / "log.txt").read_text() for t in study.trials]
    processes = {re.search(r"\(process [^:]+:(\d+)\)", text).group(1) for text in logs}
    assert str(os.getpid()) not in processes
    observed = [line.split() for line in (run / "observed.txt").read_text().splitlines()]  # the recipe's observer
    assert sorted(pid for pid, event, _ in observed if event == "trial_finished") == sorted(
        re.search(r"\(process [^:]+:(\d+)\)", text).group(1) for text in logs)
    assert {pid for pid, event, _ in observed if event == "search_started"} == processes | {str(os.getpid())}
