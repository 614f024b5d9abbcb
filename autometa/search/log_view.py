"""The search's progress as plain lines, one per event, for a stderr that is not a terminal.

A CI log, ``| tee`` or a cluster job's file gets nothing from a live display until
it stops, so there the search prints a timestamped line when a trial starts (with
its parameters), at each validation, when it completes, is pruned or fails (with
the count, the best so far and an ETA), and every minute of a long trial. No
colour, no control characters. :func:`search_view` picks this or the rich
:class:`~autometa.search.view.SearchView`.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from autometa.data.progress import duration, say, stderr_is_terminal
from autometa.recipe.schema import Recipe
from autometa.search.retries import count_finished, counts_toward_budget
from autometa.search.view import SearchView, format_params, format_value

if TYPE_CHECKING:
    from autometa.learning.evaluation import EvalResult

#: Seconds of a running trial without a line before a "still training" line.
HEARTBEAT_S = 60.0

_STATES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}


def search_view(recipe: Recipe, *, quiet: bool) -> SearchView | LogView:
    """The rich live view on a terminal (or nothing when ``quiet``), plain lines anywhere else."""
    if quiet or stderr_is_terminal():
        return SearchView(recipe, quiet=quiet)
    return LogView(recipe)


class LogView:
    """One timestamped line per search event on stderr; the same methods as :class:`SearchView`."""

    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        self.objectives = recipe.search.objectives
        self.study: optuna.Study | None = None
        self.remaining = 0
        self.done = 0
        self.started = time.monotonic()
        self.best: tuple[int, float] | None = None  # (trial, first objective) of the best complete trial
        self.last_line: dict[int, float] = {}  # running trial -> when it last had a line
        self.polled: dict[int, int] = {}  # worker mode: running trial -> validation steps already shown

    def __enter__(self) -> LogView:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.study is not None:
            say(f"search {self.recipe.name}: {self.done}/{self.remaining} trials finished in "
                f"{duration(time.monotonic() - self.started)}")

    def note(self, text: str) -> None:
        say(text)

    def watch(self, study: optuna.Study, remaining: int) -> None:
        """Follow ``study`` until ``remaining`` more trials have finished."""
        self.study, self.remaining, self.started = study, remaining, time.monotonic()
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        for trial in complete:
            self._consider(trial.number, trial.values)
        say(f"search {self.recipe.name}: {remaining} trials to run ({count_finished(study)} finished before)")

    def trial_started(self, number: int, total_steps: int, params: dict[str, Any]) -> None:
        self.last_line[number] = time.monotonic()
        say(f"trial {number} started: {format_params(params)}")

    def trial_progress(self, number: int, step: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last_line.get(number, now) >= HEARTBEAT_S:
            self.last_line[number] = now
            say(f"trial {number} training: step {step}/{total}")

    def trial_validated(self, number: int, step: int, total: int, result: EvalResult) -> None:
        self.last_line[number] = time.monotonic()
        say(f"trial {number} validation at step {step}/{total}: {result}")

    def trial_finished(self, number: int, state: str, values: list[float] | None, reason: str | None) -> None:
        self.last_line.pop(number, None)
        if state == "interrupted":
            say(f"trial {number} interrupted: the next run retries it from its checkpoint")
            return
        self.done += 1
        if state == "complete":
            self._consider(number, values)
            shown = ", ".join(f"{name} {format_value(name, v)}" for name, v in zip(self.objectives, values or []))
            detail = f"complete: {shown}"
        else:
            detail = state if not reason else reason if reason.startswith(state) else f"{state}: {reason}"
        say(f"trial {number} {detail} | {self._status()}")

    def poll(self, study: optuna.Study) -> None:
        """Worker mode: lines for the trials that started, validated or ended since the last poll."""
        for trial in study.get_trials(deepcopy=False):
            shown = self.polled.get(trial.number)
            if trial.state == TrialState.RUNNING:
                if shown is None:
                    self.trial_started(trial.number, self.recipe.training.meta_steps, trial.params)
                    shown = self.polled[trial.number] = 0
                steps = sorted(trial.intermediate_values)
                for step in steps[shown:]:
                    value = format_value(self.objectives[0], trial.intermediate_values[step])
                    say(f"trial {trial.number} validation at step {step}/{self.recipe.training.meta_steps}: {value}")
                self.polled[trial.number] = len(steps)
            elif shown is not None and trial.state in _STATES:
                del self.polled[trial.number]
                if counts_toward_budget(trial):  # a cut-off trial is retried, not finished
                    reason = trial.user_attrs.get("failure")
                    self.trial_finished(trial.number, _STATES[trial.state], trial.values, reason)

    def _consider(self, number: int, values: list[float] | None) -> None:
        if values and math.isfinite(values[0]) and (self.best is None or values[0] > self.best[1]):
            self.best = (number, values[0])

    def _status(self) -> str:
        parts = [f"{self.done}/{self.remaining} done"]
        if self.best is not None:
            parts.append(f"best #{self.best[0]} {format_value(self.objectives[0], self.best[1])}")
        left = self.remaining - self.done
        if left > 0:
            elapsed = time.monotonic() - self.started
            parts.append(f"eta {duration(elapsed / self.done * left)}")
        return ", ".join(parts)
