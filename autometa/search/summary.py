"""What a search did and found, as the report, the live view and ``--json`` show it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from autometa.experience.store import TRANSFERRED_FROM
from autometa.search.retries import SURPLUS_ATTR, counts_toward_budget
from autometa.search.run_directory import RunDirectory, read_json


#: Optuna's trial states as the report, the live view and ``--json`` name them.
STATE_NAMES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
               TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}


@dataclass
class TrialSummary:
    """One trial as the report, the live view and ``--json`` show it."""

    number: int
    state: str
    values: list[float] | None
    params: dict[str, Any]
    reason: str | None = None
    duration_s: float | None = None
    steps: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    transferred_from: dict[str, Any] | None = None  # the earlier search's trial this one re-trains (warm start)


@dataclass
class SearchSummary:
    """What a search did and found; ``best`` lists the winning trial numbers (the Pareto front if multi-objective)."""

    name: str
    run_dir: Path
    storage: str
    objectives: list[str]
    target_trials: int
    trials: list[TrialSummary]
    best: list[int]
    test: dict[int, dict[str, Any]]
    elapsed_s: float
    artifacts: Path | None = None
    warm_start: dict[str, Any] = field(default_factory=dict)  # what a warm start transferred, from where

    @property
    def completed(self) -> int:
        return sum(1 for t in self.trials if t.state == "complete")

    def counts(self) -> dict[str, int]:
        states = [t.state for t in self.trials]
        return {state: states.count(state) for state in ("complete", "pruned", "failed", "running", "waiting")}

    def no_result(self) -> str:
        """One line saying why the search has no winner (for the exit code a script can trust)."""
        counts = self.counts()
        line = (
            f"search {self.name}: no trial completed ({counts['pruned']} pruned, {counts['failed']} failed "
            f"of {self.target_trials})"
        )
        failed = next((t for t in self.trials if t.state == "failed" and t.reason), None)
        if failed is not None:
            log = self.run_dir / "trials" / str(failed.number) / "log.txt"
            line += f"; trial {failed.number} failed with {failed.reason} (log: {log})"
        return line + "; fix the strategy space or the budget and rerun the same command"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        data["artifacts"] = str(self.artifacts) if self.artifacts else None
        data["counts"] = self.counts()
        return data


def summarize(study: optuna.Study, run: RunDirectory) -> list[TrialSummary]:
    """Every trial of ``study`` with its metrics from the run directory."""
    trials = []
    for t in study.get_trials(deepcopy=False):
        metrics = read_json(run.trials_dir / str(t.number) / "metrics.json") or {}
        state = STATE_NAMES[t.state]
        reason = t.user_attrs.get("failure") or metrics.get("reason")
        if SURPLUS_ATTR in t.user_attrs:
            state, reason = "surplus", "started after other processes had taken the budget's last trials"
        elif t.state == TrialState.FAIL and not counts_toward_budget(t):
            reason = reason or "cut off (process killed); retried"
        duration = t.duration.total_seconds() if t.duration else None
        trials.append(TrialSummary(t.number, state, t.values, t.params, reason, duration, t.last_step, metrics,
                                   t.user_attrs.get(TRANSFERRED_FROM)))
    return trials


def best_numbers(study: optuna.Study) -> list[int]:
    """The best trial, or the Pareto front (by first objective, descending) for several objectives."""
    try:
        if len(study.directions) == 1:
            return [study.best_trial.number]
        return [t.number for t in sorted(study.best_trials, key=lambda t: -t.values[0])]
    except ValueError:
        return []


def top_numbers(study: optuna.Study, count: int) -> list[int]:
    """The ``count`` complete trials with the highest accuracy (the first objective), best first."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [t.number for t in sorted(complete, key=lambda t: (-t.values[0], t.number))[:count]]
