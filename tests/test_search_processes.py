"""`autometa search` as processes: kill -9 mid-trial then resume; two workers on one journal.

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
from test_search import PLUGIN, write_recipe

from autometa.plugins import default_host
from autometa.search import STUDY_NAME, count_finished, open_storage, run_search

TESTS = Path(__file__).parent


def search_command(recipe: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "autometa.cli", "--plugin", PLUGIN, "search", recipe, "--quiet", *extra]


def environment() -> dict[str, str]:
    """Find the toy plugins; one intra-op thread (tiny tensors, busy machine)."""
    path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def test_sigkill_mid_trial_then_rerun_finishes_with_earlier_trials_intact(tmp_path):
    strategy = {"learner": {"search_toy": {"sleep": 0.2}}}
    recipe = write_recipe(tmp_path, strategy=strategy, search={"trials": 3})
    run = tmp_path / "runs" / "toy"
    process = subprocess.Popen(search_command(recipe), env=environment(), cwd=tmp_path)
    deadline = time.time() + 120
    while not (run / "trials" / "1" / "checkpoint.pt").exists():  # trial 1 is mid-way
        assert process.poll() is None and time.time() < deadline, "the search ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    storage = f"sqlite:///{run / 'study.db'}"
    before = {t.number: (t.state, t.values) for t in optuna.load_study(study_name=STUDY_NAME, storage=storage).trials}
    assert before[0][0] == optuna.trial.TrialState.COMPLETE and before[1][0] == optuna.trial.TrialState.RUNNING

    done = subprocess.run(search_command(recipe, "--json"), env=environment(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    after = {t["number"]: t for t in summary["trials"]}
    assert after[0]["values"] == before[0][1] and after[0]["state"] == "complete"  # untouched
    assert after[1]["state"] == "failed" and "retried" in after[1]["reason"]
    assert summary["counts"]["complete"] == 3 and len(after) == 4
    assert "resuming from its checkpoint" in (run / "trials" / "2" / "log.txt").read_text()


def test_two_workers_share_one_journal_storage(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    default_host().load_module(PLUGIN)
    sys.path.insert(0, str(TESTS))
    try:
        recipe = write_recipe(tmp_path, search={"trials": 2, "observers": ["trial_file"]})
        summary = run_search(recipe, default_host(), workers=2, quiet=True)
    finally:
        default_host().reset()
    run = tmp_path / "runs" / "toy"
    assert summary.storage.endswith("journal.log") and not (run / "study.db").exists()
    assert summary.counts()["complete"] == 2 and len(summary.trials) == 2
    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(summary.storage))
    assert count_finished(study) == 2
    logs = [(run / "trials" / str(t.number) / "log.txt").read_text() for t in study.trials]
    processes = {re.search(r"\(process (\d+)\)", text).group(1) for text in logs}
    assert len(processes) == 2 and str(os.getpid()) not in processes
    observed = [line.split() for line in (run / "observed.txt").read_text().splitlines()]  # the recipe's observer
    assert sorted(pid for pid, event, _ in observed if event == "trial_finished") == sorted(processes)
    assert {pid for pid, event, _ in observed if event == "search_started"} == processes | {str(os.getpid())}
