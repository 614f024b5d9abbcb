"""The live view of a search (rich, on a terminal's stderr) and its final summary.

The study bar counts the trials this run still has to finish, with an ETA; one
bar per running trial counts its meta-steps and shows its last validation; a
table shows the best trials so far. In-process trials push their events
(:meth:`SearchView.trial_progress` ...); with worker processes the view polls the
storage instead and shows each running trial's last validated step. When stderr
is not a terminal, :class:`autometa.search.log_view.LogView` prints the same
events as lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from autometa.recipe.schema import Recipe
from autometa.search.retries import count_finished
from autometa.search.summary import SearchSummary

if TYPE_CHECKING:
    from autometa.learning.evaluation import EvalResult

TABLE_ROWS = 5


class SearchView:
    """Draws the search as it runs; does nothing when ``quiet``."""

    def __init__(self, recipe: Recipe, *, quiet: bool, console: Console | None = None):
        self.recipe = recipe
        self.quiet = quiet
        self.console = console or Console(stderr=True)
        self.objectives = recipe.search.objectives
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        )
        self.study: optuna.Study | None = None
        self.study_task: Any = None
        self.trial_tasks: dict[int, Any] = {}
        self.finished_at_start = 0
        self.live: Live | None = None

    def __enter__(self) -> SearchView:
        if not self.quiet:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self._refresh()  # the trials finished since the last event: the final frame counts them all
            self.live.__exit__(*exc)
            self.live = None

    def note(self, text: str) -> None:
        """A one-line message outside the live display (e.g. while data loads)."""
        if not self.quiet:
            self.console.print(text, highlight=False)

    def watch(self, study: optuna.Study, remaining: int) -> None:
        """Follow ``study`` until ``remaining`` more trials have finished."""
        self.study = study
        self.finished_at_start = count_finished(study)
        self.study_task = self.progress.add_task(f"search [bold]{self.recipe.name}[/]", total=remaining)
        self._refresh()

    def trial_started(self, number: int, total_steps: int, params: dict[str, Any]) -> None:
        self.trial_tasks[number] = self.progress.add_task(f"  trial {number}", total=total_steps)

    def trial_progress(self, number: int, step: int, total: int) -> None:
        if number in self.trial_tasks:
            self.progress.update(self.trial_tasks[number], completed=step, total=total)

    def trial_validated(self, number: int, step: int, total: int, result: EvalResult) -> None:
        if number in self.trial_tasks:
            self.progress.update(self.trial_tasks[number], description=f"  trial {number} val {100 * result.mean:.1f}%")

    def trial_finished(self, number: int, state: str, values: list[float] | None, reason: str | None) -> None:
        """A trial of this process ended; the storage marks it finished only after this returns."""
        self._drop(number)
        self._refresh(finishing=1 if state != "interrupted" else 0)

    def _drop(self, number: int) -> None:
        task = self.trial_tasks.pop(number, None)
        if task is not None:
            self.progress.remove_task(task)

    def poll(self, study: optuna.Study) -> None:
        """Worker mode: read running trials and their last reported step from the storage."""
        running = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
        for number in list(self.trial_tasks):
            if number not in running:
                self._drop(number)
        for number, trial in running.items():
            if number not in self.trial_tasks:
                self.trial_started(number, self.recipe.training.meta_steps, trial.params)
            self.trial_progress(number, trial.last_step or 0, self.recipe.training.meta_steps)
        self._refresh()

    def _refresh(self, finishing: int = 0) -> None:
        """Redraw; ``finishing`` counts trials that ended but are not marked finished in the storage yet."""
        if self.study is None:
            return
        done = count_finished(self.study) - self.finished_at_start + finishing
        self.progress.update(self.study_task, completed=done)
        if self.live is not None:
            self.live.update(self._render())

    def _render(self) -> Group:
        parts: list[Any] = [self.progress]
        if self.study is not None:
            parts.append(best_table(self.study, self.objectives, title="best trials so far"))
        return Group(*parts)


def best_table(study: optuna.Study, objectives: list[str], *, title: str, rows: int = TABLE_ROWS) -> Table:
    """The top complete trials by first objective (accuracy), with their parameters."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    complete.sort(key=lambda t: -t.values[0])
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    for name in objectives:
        table.add_column(name, justify="right")
    table.add_column("params")
    for trial in complete[:rows]:
        table.add_row(str(trial.number), *[format_value(n, v) for n, v in zip(objectives, trial.values)],
                      format_params(trial.params))
    return table


def format_value(objective: str, value: float | None) -> str:
    if value is None:
        return "-"
    if objective == "accuracy":
        return f"{100 * value:.2f}%"
    if objective == "latency":
        return f"{value:.2f} ms"
    return f"{value:,.0f}"


def format_params(params: dict[str, Any]) -> str:
    """``learner=maml inner_lr=0.31 ...``: the trial's search parameters, short."""
    parts = []
    for name, value in params.items():
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        parts.append(f"{name}={shown}")
    return " ".join(parts)


def render_summary(summary: SearchSummary, console: Console) -> None:
    """The final summary: counts, the best trial(s) with val and test accuracy, where things are."""
    counts = summary.counts()
    console.print(
        f"[bold]search {summary.name}[/]: {counts['complete']} complete, {counts['pruned']} pruned, "
        f"{counts['failed']} failed of {summary.target_trials} in {summary.elapsed_s:.1f} s",
        highlight=False,
    )
    by_number = {t.number: t for t in summary.trials}
    title = "Pareto front" if len(summary.objectives) > 1 else "best trial"
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    for name in summary.objectives:
        table.add_column(f"val {name}" if name == "accuracy" else name, justify="right")
    table.add_column("test accuracy", justify="right")
    table.add_column("params")
    for number in summary.best:
        trial = by_number[number]
        test = summary.test.get(number)
        test_text = f"{100 * test['mean']:.2f}% +- {100 * test['ci95']:.2f}" if test else "-"
        table.add_row(str(number), *[format_value(n, v) for n, v in zip(summary.objectives, trial.values or [])],
                      test_text, format_params(trial.params))
    console.print(table)
    console.print(f"run directory: {summary.run_dir}   report: {summary.run_dir / 'report.html'}", highlight=False)
    if summary.artifacts:
        console.print(f"artifacts: {summary.artifacts}", highlight=False)
