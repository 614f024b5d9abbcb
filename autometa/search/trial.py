"""One trial: train the strategy Optuna proposes, report validations for pruning, keep its folder.

A trial still training at ``search.timeout_minutes`` stops there: its
checkpoint is saved and it is recorded as pruned, with the step it reached as
the reason; Optuna then starts no new trial.
A trial that diverges, runs out of memory or whose plugin raises is recorded as
failed with its reason (traceback in ``trials/<n>/log.txt``); the study goes on.
Its ``metrics.json`` keeps the learning curve (``history``: the training metrics
every ``meta_steps // 20`` steps, each validation with its CI), so the report and
the observers read files, not logs; it is attached to the trial as an Optuna
artifact before the trial ends.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import torch

from autometa.data.dataset import SplitData
from autometa.learning.evaluation import EvalResult
from autometa.learning.trainer import StoppedAtDeadline, train
from autometa.plugins.host import PluginHost
from autometa.recipe.schema import Recipe, SearchSection
from autometa.search.objectives import measure_costs
from autometa.search.pruning import episode_key
from autometa.search.retries import retried_checkpoint
from autometa.search.run_directory import RunDirectory, write_json
from autometa.search.study_artifacts import StudyArtifacts

if TYPE_CHECKING:
    from autometa.search.log_view import LogView
    from autometa.search.view import SearchView

log = logging.getLogger("autometa.search")


class TrialObjective:
    """Train and score one trial's strategy, keeping its folder (params, metrics, log, checkpoint)."""

    def __init__(
        self, recipe: Recipe, data: SplitData, run: RunDirectory, plugins: PluginHost,
        view: SearchView | LogView | None = None,
    ):
        self.recipe, self.data, self.run, self.plugins, self.view = recipe, data, run, plugins, view
        self.multi = len(recipe.search.objectives) > 1
        self.artifacts = StudyArtifacts(run.artifact_store)
        timeout = recipe.search.timeout_minutes
        self.deadline = time.monotonic() + 60 * timeout if timeout else None  # a running trial stops there too

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        folder = self.run.trial_dir(trial.number)
        started = time.perf_counter()
        metrics: dict[str, Any] = {"number": trial.number, "history": {"train": [], "val": []}}
        with _trial_log(folder / "log.txt") as tlog:
            try:
                strategy = self.recipe.strategy_for(trial)
                write_json(folder / "params.json", {"params": trial.params, "strategy": strategy.model_dump(mode="json")})
                self._resume_retry(trial, folder, tlog)
                tlog.info("trial %d (process %d): %s", trial.number, os.getpid(), trial.params)
                self.plugins.notify("trial_started", trial=trial, strategy=strategy)
                if self.view is not None:
                    self.view.trial_started(trial.number, self.recipe.training.meta_steps, trial.params)
                result = train(
                    self.recipe, strategy, self.data, self.plugins.registry, workdir=folder,
                    on_progress=self._progress(trial, tlog, metrics["history"]["train"]),
                    on_validation=self._validation(trial, tlog, metrics["history"]["val"]),
                    deadline=self.deadline,
                )
                metrics.update(val=result.val.as_dict(), steps=result.steps, tasks_per_second=result.tasks_per_second)
                values = [result.val.mean]
                if self.multi:
                    costs = measure_costs(
                        result.learner.deployable_predictor(), self.recipe.search.objectives,
                        self.recipe.evaluation.shape, result.preprocessing,
                    )
                    metrics["costs"] = costs
                    values = [result.val.mean if name == "accuracy" else costs[name] for name in self.recipe.search.objectives]
                tlog.info("complete: %s", dict(zip(self.recipe.search.objectives, values)))
                self._finish(trial, folder, metrics, started, "complete", values, None)
                return values if self.multi else values[0]
            except optuna.TrialPruned as exc:
                tlog.info("pruned: %s", exc)
                self._finish(trial, folder, metrics, started, "pruned", None, str(exc))
                raise
            except StoppedAtDeadline as stop:
                reason = f"cut off by search.timeout_minutes at step {stop.step} of {stop.total}"
                tlog.info("pruned: %s", reason)
                self._finish(trial, folder, metrics, started, "pruned", None, reason)
                raise optuna.TrialPruned(reason) from None
            except KeyboardInterrupt:
                tlog.info("interrupted by Ctrl-C: the next run retries this trial from its checkpoint")
                self._finish(trial, folder, metrics, started, "interrupted", None, "interrupted")
                raise
            except Exception as exc:
                reason = failure_reason(exc)
                tlog.error("failed: %s\n%s", reason, traceback.format_exc())
                trial.set_user_attr("failure", reason)
                self._finish(trial, folder, metrics, started, "failed", None, reason)
                raise

    def _progress(
        self, trial: optuna.Trial, tlog: logging.Logger, curve: list[dict[str, float]]
    ) -> Callable[[int, int, dict], None]:
        every = max(1, self.recipe.training.meta_steps // 20)

        def on_progress(step: int, total: int, values: dict) -> None:
            if step % every == 0 or step == total:
                rounded = {k: round(float(v), 4) for k, v in values.items()}
                tlog.info("step %d/%d %s", step, total, rounded)
                curve.append({"step": step, **rounded})
            if self.view is not None:
                self.view.trial_progress(trial.number, step, total)

        return on_progress

    def _validation(
        self, trial: optuna.Trial, tlog: logging.Logger, curve: list[dict[str, float]]
    ) -> Callable[[int, EvalResult], None]:
        def on_validation(step: int, result: EvalResult) -> None:
            tlog.info("validation at step %d: %s", step, result)
            curve.append({"step": step, "mean": round(result.mean, 6), "ci95": round(result.ci95, 6), "n": result.n})
            if self.view is not None:
                self.view.trial_validated(trial.number, step, self.recipe.training.meta_steps, result)
            if self.multi:
                return
            trial.set_user_attr(episode_key(step), [round(s, 6) for s in result.per_episode])
            if math.isfinite(result.mean):
                trial.report(result.mean, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step}: val accuracy {result.mean:.4f}")

        return on_validation

    def _resume_retry(self, trial: optuna.Trial, folder: Path, tlog: logging.Logger) -> None:
        """A retried trial continues from the checkpoint its cut-off original left."""
        source = retried_checkpoint(trial, self.run.trials_dir)
        if source is None:
            return
        target = folder / "checkpoint.pt"
        if source.is_file() and not target.exists():
            shutil.copyfile(source, target)
            tlog.info("retry of trial %s: resuming from its checkpoint", source.parent.name)
        else:
            tlog.info("retry of trial %s: starting afresh", source.parent.name)

    def _finish(
        self, trial: optuna.Trial, folder: Path, metrics: dict[str, Any], started: float, state: str,
        values: list[float] | None, reason: str | None,
    ) -> None:
        metrics.update(state=state, values=values, reason=reason, duration_s=round(time.perf_counter() - started, 3))
        write_json(folder / "metrics.json", metrics)
        if state != "interrupted":
            self.artifacts.attach_to_trial(trial, [folder / "metrics.json", folder / "log.txt"])
            self.plugins.notify(
                "trial_finished", trial=trial, state=state, values=values, reason=reason, metrics=metrics
            )
        if self.view is not None:
            self.view.trial_finished(trial.number, state, values, reason)


def failure_reason(exc: BaseException) -> str:
    """One line saying why a trial failed."""
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
        return f"out of memory: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; try a smaller meta_batch_size or backbone"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def _trial_log(path: Path) -> Iterator[logging.Logger]:
    """Everything autometa logs during a trial also goes to its ``log.txt``."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("autometa")
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield log
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


def optimize(study: optuna.Study, objective: Callable[[optuna.Trial], Any], n_trials: int, search: SearchSection) -> None:
    """``study.optimize`` for ``n_trials`` more trials (or until ``search.timeout_minutes``); a failing
    trial is recorded and the study goes on.

    Optuna's own warning about a failed trial (with its traceback) stays off stderr:
    the view says why the trial failed, and its ``log.txt`` keeps the traceback.
    """
    timeout = search.timeout_minutes * 60 if search.timeout_minutes else None
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study.optimize(objective, n_trials=n_trials, timeout=timeout, catch=(Exception,))
    finally:
        optuna.logging.set_verbosity(verbosity)
