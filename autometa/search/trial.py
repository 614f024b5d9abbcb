"""One trial: train the strategy Optuna proposes, report validations for pruning, keep its folder.

A trial still training at ``search.timeout_minutes`` stops there: its
checkpoint is saved and it is recorded as pruned, with the step it reached as
the reason; no new trial starts.

A trial that diverges, runs out of memory or whose plugin raises is recorded as
failed with its reason (traceback in ``trials/<n>/log.txt``); the study goes on.
A full disk or a folder autometa may not write to is no fault of the strategy:
the trial is cut off (retried on the next run) and the search stops with that
error. :func:`optimize` runs trials until the study's budget is spent, whichever
process runs them (:mod:`autometa.search.budget`).

A trial's ``metrics.json`` keeps the learning curve (``history``: the training metrics
every ``meta_steps // 20`` steps, each validation with its CI), so the report and
the observers read files, not logs; it is attached to the trial as an Optuna
artifact before the trial ends.
"""

from __future__ import annotations

import errno
import logging
import math
import shutil
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import torch

from autometa.data.dataset import SplitData
from autometa.learning.evaluation import EvalResult
from autometa.learning.trainer import StoppedAtDeadline, train
from autometa.plugins.host import PluginHost
from autometa.recipe.schema import Recipe, SearchSection
from autometa.search.budget import POLL_SECONDS, Step, next_step, over_budget
from autometa.search.objectives import measure_costs
from autometa.search.pruning import episode_key
from autometa.search.retries import SURPLUS_ATTR, WORKER_ATTR, retried_checkpoint, worker_id
from autometa.search.run_directory import RunDirectory, write_json
from autometa.search.run_log import file_log
from autometa.search.storage import fail_stale_trials
from autometa.search.study_artifacts import StudyArtifacts

if TYPE_CHECKING:
    from autometa.search.log_view import LogView
    from autometa.search.view import SearchView

log = logging.getLogger("autometa.search")

#: OSErrors that are no fault of the strategy: the search stops, the trial is retried on the next run.
STOPS_THE_SEARCH = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


class TrialEnded(Exception):
    """The trial ended without a value, recorded (failed for a reason of its own, or surplus); the search goes on."""


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
        if over_budget(trial.study, trial.number, self.recipe.search.trials):
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise TrialEnded("surplus: other processes had already started the last trials of the budget")
        trial.set_user_attr(WORKER_ATTR, worker_id())
        folder = self.run.trial_dir(trial.number)
        started = time.perf_counter()
        metrics: dict[str, Any] = {"number": trial.number, "history": {"train": [], "val": []}}
        with file_log(folder / "log.txt") as tlog:
            try:
                strategy = self.recipe.strategy_for(trial)
                write_json(folder / "params.json", {"params": trial.params, "strategy": strategy.model_dump(mode="json")})
                self._resume_retry(trial, folder, tlog)
                tlog.info("trial %d (process %s): %s", trial.number, worker_id(), trial.params)
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
            except OSError as exc:
                if exc.errno not in STOPS_THE_SEARCH:
                    raise self._failed(trial, folder, metrics, started, exc, tlog) from exc
                tlog.error("cut off: %s; the next run retries this trial\n%s", exc, traceback.format_exc())
                self._finish(trial, folder, metrics, started, "interrupted", None, str(exc))
                raise  # not caught by optimize: the search stops with it
            except Exception as exc:
                raise self._failed(trial, folder, metrics, started, exc, tlog) from exc

    def _failed(self, trial: optuna.Trial, folder: Path, metrics: dict[str, Any], started: float,
                exc: Exception, tlog: logging.Logger) -> TrialEnded:
        """Record a failure of the trial's own: it counts toward the budget and is not retried."""
        reason = failure_reason(exc)
        tlog.error("failed: %s\n%s", reason, traceback.format_exc())
        trial.set_user_attr("failure", reason)
        self._finish(trial, folder, metrics, started, "failed", None, reason)
        return TrialEnded(reason)

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
        try:
            write_json(folder / "metrics.json", metrics)
        except OSError as exc:
            if state == "complete":
                raise  # a complete trial's record must not be lost: the trial is cut off and retried
            log.warning("could not write %s: %s", folder / "metrics.json", exc)
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


def optimize(study: optuna.Study, objective: TrialObjective, search: SearchSection, *, heartbeats: bool) -> None:
    """Run trials until the study holds ``search.trials`` counted trials, whichever processes ran them, or
    ``search.timeout_minutes`` have passed; a trial that ends without a value is recorded and the search goes
    on. ``heartbeats``: the storage fails a dead process's trial, so waiting for other processes is safe."""
    deadline = objective.deadline or math.inf  # the one the running trial also stops at
    while time.monotonic() < deadline:
        step = next_step(study, search.trials, heartbeats=heartbeats)
        if step == Step.DONE:
            return
        if step == Step.WAIT:
            time.sleep(POLL_SECONDS)
            fail_stale_trials(study)
            continue
        study.optimize(objective, n_trials=1, catch=(TrialEnded,))
