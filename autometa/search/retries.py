"""Trials cut off by Ctrl-C, a killed process or a full disk: counted apart, retried from their checkpoints.

A trial that failed for a reason of its own (it diverged, a plugin raised)
counts toward ``search.trials`` and stays failed. A trial cut off from outside
failed without a reason; Optuna's retry callback queues a copy of it, which
resumes from the original's last checkpoint (:func:`retried_checkpoint`). A
trial started after the budget was already taken by other workers is *surplus*:
it stops at once and is neither counted nor retried.

Each trial records the process running it (:func:`worker_id`), so the parent of
local workers fails the trial of a worker that died at once, on any storage.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

#: How often a trial cut off by a dead process or Ctrl-C is retried.
MAX_RETRIES = 2
#: User attributes of a trial: the process running it; set when it started over the budget.
WORKER_ATTR = "worker"
SURPLUS_ATTR = "surplus"


@contextmanager
def experimental_optuna() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarning: heartbeat retries use its (stable in practice) retry API."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def count_finished(study: optuna.Study) -> int:
    """Trials that count toward ``search.trials``: complete, pruned, or failed for a reason of their own.

    A trial cut off by Ctrl-C or a killed process failed without a reason; its
    retry counts instead.
    """
    return sum(1 for t in study.get_trials(deepcopy=False) if counts_toward_budget(t))


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """Whether a finished trial counts toward ``search.trials`` (see :func:`count_finished`)."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and "failure" in trial.user_attrs
    )


def is_cut_off(trial: FrozenTrial) -> bool:
    """Failed from outside (Ctrl-C, a dead process, a full disk): its retry counts instead."""
    return trial.state == TrialState.FAIL and not counts_toward_budget(trial) and SURPLUS_ATTR not in trial.user_attrs


def worker_id(pid: int | None = None) -> str:
    """A process of this machine (default: this one), as trials record it: ``host:pid``."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def retry_callback() -> RetryHeartbeatStaleTrialCallback:
    """Optuna's callback that re-queues a trial cut off by a dead process, keeping its intermediate values."""
    with experimental_optuna():
        return RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES, inherit_intermediate_values=True)


def requeue_unfinished(study: optuna.Study, *, orphans: bool) -> list[int]:
    """Queue a retry of every trial cut off by Ctrl-C or a killed process; returns their numbers.

    With ``orphans`` (this process owns the storage), RUNNING trials are from a
    dead process: they are marked failed first. On shared storage they may be
    alive elsewhere: only those of processes of this machine that are gone are
    failed (on any storage, a journal too); heartbeats retry the others.
    """
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return fail_and_retry(study, [t.number for t in running if orphans or _gone_from_here(t)])


def _gone_from_here(trial: FrozenTrial) -> bool:
    """Whether ``trial`` was run by a process of this machine that no longer exists."""
    host, _, pid = str(trial.user_attrs.get(WORKER_ATTR, "")).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process holds that pid now
        return False
    return False


def fail_trials_of(study: optuna.Study, worker: str) -> list[int]:
    """Fail and re-queue the running trials of ``worker``, a process known to be dead; returns their numbers."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return fail_and_retry(study, [t.number for t in running if t.user_attrs.get(WORKER_ATTR) == worker])


def fail_and_retry(study: optuna.Study, dead: list[int]) -> list[int]:
    """Fail the trials ``dead`` (of processes known to be dead: failing a live one crashes it), then queue a
    retry of every cut-off trial not yet retried; returns the numbers queued."""
    for number in dead:
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    trials = study.get_trials(deepcopy=False)
    with experimental_optuna():
        retried = {n for t in trials for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}
        callback = retry_callback()
        queued = [t for t in trials if is_cut_off(t) and t.number not in retried]
        for trial in queued:
            callback(study, trial)
    return [t.number for t in queued]


def retried_checkpoint(trial: optuna.Trial, trials_dir: Path) -> Path | None:
    """The checkpoint a retried trial resumes from: the last one its cut-off original left (None if
    ``trial`` is not a retry)."""
    frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    with experimental_optuna():
        history = RetryHeartbeatStaleTrialCallback.retry_history(frozen)
    return trials_dir / str(history[-1]) / "checkpoint.pt" if history else None
