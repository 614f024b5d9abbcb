"""The trial budget of a study, shared by every process working on it: exactly ``search.trials``.

Each process used to count its own remaining trials, so two workers asked for 8
finished 10. Now the study itself is the count: a process starts a trial only
while fewer than ``search.trials`` trials are counted or running
(:func:`next_step`), and a trial that finds, once Optuna has numbered it, that
``search.trials`` trials with smaller numbers are already counted or running
(another process asked at the same moment) ends at once as *surplus*, neither
counted nor retried (:func:`over_budget`). Trial numbers are handed out by the
storage, so every process agrees which trial is surplus.

A process with nothing left to start waits while other processes' trials run,
when the storage has heartbeats, so that it can retry a trial whose process
dies; it ends once the budget is spent.
"""

from __future__ import annotations

from enum import Enum

import optuna
from optuna.trial import TrialState

from autometa.search.retries import counts_toward_budget

#: How often a waiting worker looks at the study again (one small query).
POLL_SECONDS = 1.0


class Step(Enum):
    """What a worker does next."""

    RUN = "run a trial"
    WAIT = "wait for the running trials of other processes"
    DONE = "the budget is spent"


def next_step(study: optuna.Study, target: int, *, heartbeats: bool) -> Step:
    """Run one more trial, wait for other processes' trials (they may die and need a retry), or stop.

    Without heartbeats a dead process's trial would be waited for forever, so the
    worker stops (its parent, or the next run, fails and retries that trial).
    """
    trials = study.get_trials(deepcopy=False)
    counted = sum(1 for t in trials if counts_toward_budget(t))
    running = sum(1 for t in trials if t.state == TrialState.RUNNING)
    if counted >= target:
        return Step.DONE
    if counted + running < target:
        return Step.RUN
    return Step.WAIT if heartbeats else Step.DONE


def over_budget(study: optuna.Study, number: int, target: int) -> bool:
    """Whether trial ``number`` came too late: ``target`` trials before it are already counted or running."""
    ahead = sum(
        1 for t in study.get_trials(deepcopy=False)
        if t.number < number and (counts_toward_budget(t) or t.state == TrialState.RUNNING)
    )
    return ahead >= target
