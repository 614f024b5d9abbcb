"""Trials cut off by Ctrl-C or a killed process: counted apart, retried from their checkpoints.

A trial that failed for a reason of its own (it diverged, a plugin raised)
counts toward ``search.trials`` and stays failed. A trial cut off from outside
failed without a reason; Optuna's retry callback queues a copy of it, which
resumes from the original's last checkpoint (:func:`retried_checkpoint`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

#: How often a trial cut off by a dead process or Ctrl-C is retried.
MAX_RETRIES = 2


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


def retry_callback() -> RetryHeartbeatStaleTrialCallback:
    """Optuna's callback that re-queues a trial cut off by a dead process, keeping its intermediate values."""
    with experimental_optuna():
        return RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES, inherit_intermediate_values=True)


def requeue_unfinished(study: optuna.Study, *, orphans: bool) -> list[int]:
    """Queue a retry of every trial cut off by Ctrl-C or a killed process; returns their numbers.

    With ``orphans`` (this process owns the storage), RUNNING trials are from a
    dead process: they are marked failed first. On shared storage they may be
    alive elsewhere; heartbeats retry them instead.
    """
    trials = study.get_trials(deepcopy=False)
    with experimental_optuna():
        retried = {n for t in trials for n in RetryHeartbeatStaleTrialCallback.retry_history(t)}
    callback = retry_callback()
    queued = []
    for trial in trials:
        if orphans and trial.state == TrialState.RUNNING:
            study.tell(trial.number, state=TrialState.FAIL)
            trial = study.get_trials(deepcopy=False)[trial.number]
        if trial.state == TrialState.FAIL and not counts_toward_budget(trial) and trial.number not in retried:
            with experimental_optuna():
                callback(study, trial)
            queued.append(trial.number)
    return queued


def retried_checkpoint(trial: optuna.Trial, trials_dir: Path) -> Path | None:
    """The checkpoint a retried trial resumes from: the last one its cut-off original left (None if
    ``trial`` is not a retry)."""
    frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    with experimental_optuna():
        history = RetryHeartbeatStaleTrialCallback.retry_history(frozen)
    return trials_dir / str(history[-1]) / "checkpoint.pt" if history else None
