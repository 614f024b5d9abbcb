"""``autometa search``: Optuna proposes strategies, the trainer scores them, the best is kept.

One trial = one strategy: :meth:`Recipe.strategy_for` turns the recipe's search
space into Optuna suggestions (parameters named by their dotted path, so a
learner's conditional options get their own names), the trainer meta-trains it
and reports the validation accuracy every ``eval_every`` steps, and the pruner
stops losers early:

* across training, Hyperband or the median rule on those intermediate accuracies;
* across validation episodes, Optuna's ``WilcoxonPruner``: a paired signed-rank
  test of this trial's per-episode scores against the best trial's at the same
  step (every candidate is scored on the same fixed episodes, so they pair).

A trial that diverges, runs out of memory or whose plugin raises is recorded as
failed with its reason (traceback in ``trials/<n>/log.txt``); the study goes on.
The study lives in Optuna storage (see :mod:`autometa.run_directory`), so the
same command resumes it: finished trials are never redone, and a trial cut off
by Ctrl-C or a killed process is retried from its last checkpoint.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import shutil
import signal
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from autometa.data import SplitData
from autometa.errors import AutometaError
from autometa.objectives import DIRECTIONS, measure_costs
from autometa.plugins import get_plugin_manager
from autometa.recipe import Recipe, SearchSection, load_recipe
from autometa.run_directory import RunDirectory, RunDirectoryError, read_json, write_json
from autometa.space import FixedSuggester

log = logging.getLogger("autometa.search")


@contextmanager
def experimental_optuna() -> Iterator[None]:
    """Silence Optuna's ExperimentalWarning: heartbeat retries use its (stable in practice) retry API."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield

#: Seconds between a running trial's heartbeats in database storage, and how long
#: a silent trial may stay RUNNING before another worker retries it.
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60
#: How often a trial cut off by a dead process or Ctrl-C is retried.
MAX_RETRIES = 2
STUDY_NAME = "autometa"


class SearchInterrupted(AutometaError):
    """Ctrl-C: the study is saved; the same command resumes it."""

    exit_code = 130


# ------------------------------------------------------------------- summary


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

    @property
    def completed(self) -> int:
        return sum(1 for t in self.trials if t.state == "complete")

    def counts(self) -> dict[str, int]:
        states = [t.state for t in self.trials]
        return {state: states.count(state) for state in ("complete", "pruned", "failed", "running", "waiting")}

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        data["artifacts"] = str(self.artifacts) if self.artifacts else None
        data["counts"] = self.counts()
        return data


# -------------------------------------------------------------- entry point


def run_search(
    recipe_path: Path,
    *,
    storage: str | None = None,
    workers: int | None = None,
    quiet: bool = False,
    as_json: bool = False,
) -> SearchSummary:
    """Run (or resume) the search a recipe declares; returns its summary.

    ``storage`` is any Optuna database URL (``sqlite:///...``, ``postgresql://...``)
    or a journal file path; default: the run directory's own. ``workers`` local
    processes share it (default: ``search.workers``). The live view is drawn on
    stderr unless ``quiet`` or ``as_json`` (whose caller prints the JSON summary).
    """
    from autometa.search_view import SearchView

    started = time.perf_counter()
    recipe = load_recipe(recipe_path)
    workers = workers or recipe.search.workers
    run = RunDirectory.for_recipe(recipe)
    with run.lock():
        run.prepare(recipe)
        spec = storage or run.default_storage(workers)
        study = open_study(spec, recipe)
        local = storage is None
        requeue_unfinished(study, orphans=local)
        _notify("search_started", study=study, recipe=recipe, run_dir=run.root)
        view = SearchView(recipe, quiet=quiet or as_json)
        finished = interrupted = False
        data: SplitData | None = None
        try:
            remaining = recipe.search.trials - count_finished(study)
            if remaining > 0:  # loaded here also with workers: the first load fills the cache they read
                view.note(f"loading data set {recipe.data.dataset.name} (the first use may render and cache it)")
                data = _load_data(recipe)
                with view:
                    if workers <= 1:
                        view.watch(study, remaining)
                        _optimize(study, TrialObjective(recipe, data, run, view), remaining, recipe.search)
                    else:
                        _run_workers(recipe_path, spec, study, remaining, workers, view)
            finished = True
        except KeyboardInterrupt:
            interrupted = True
        finally:  # on Ctrl-C or an error too, so the report shows what was done
            summary = finish(study, recipe, run, spec, data, started, score_test=finished)
            _notify("search_finished", study=study, run_dir=run.root)
        if interrupted:
            raise SearchInterrupted(
                f"search interrupted; {len(summary.trials)} trials saved in {run.root}: "
                "run the same command to resume"
            )
        if recipe.compression is not None or recipe.export.formats:
            from autometa.compression import compress_run

            summary.artifacts = compress_run(run.root, recipe=recipe, skip_if_current=True)
    return summary


def _load_data(recipe: Recipe) -> SplitData:
    """The recipe's data, checked against every episode shape the search can ask for."""
    from autometa.data import load_data
    from autometa.episodes import check_recipe_shapes

    data = load_data(recipe.data)
    check_recipe_shapes(recipe, data)
    return data


def _notify(hook: str, **kwargs: Any) -> None:
    """Call an observer hook; an observer that raises is logged, never fatal."""
    try:
        getattr(get_plugin_manager().hook, hook)(**kwargs)
    except Exception as exc:
        log.warning("observer hook %s raised %r; the search goes on", hook, exc)


# -------------------------------------------------------------------- study


def directions(recipe: Recipe) -> list[str]:
    return [DIRECTIONS[name] for name in recipe.search.objectives]


def open_storage(spec: str) -> optuna.storages.BaseStorage:
    """A database URL gets heartbeats (a dead worker's trial is retried); a path is a journal file."""
    if "://" in spec:
        return optuna.storages.RDBStorage(
            spec,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
            heartbeat_stale_trial_callback=_retry_callback(),
        )
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(spec))


def open_study(spec: str, recipe: Recipe) -> optuna.Study:
    """Create or load the study; a corrupt or foreign storage is one clear error."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with experimental_optuna():
        try:
            study = optuna.create_study(
                storage=open_storage(spec),
                study_name=STUDY_NAME,
                directions=directions(recipe),
                sampler=make_sampler(recipe.search, recipe.seed),
                pruner=make_pruner(recipe),
                load_if_exists=True,
            )
        except Exception as exc:  # sqlalchemy, json and version errors all mean "cannot use this file"
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunDirectoryError(
                f"storage {spec}: cannot be opened as an Optuna study ({reason}); "
                "delete or move it to start afresh, or pass another --storage"
            ) from None
    wanted = [optuna.study.StudyDirection[d.upper()] for d in directions(recipe)]
    if study.directions != wanted:
        raise RunDirectoryError(
            f"storage {spec}: holds a study with other objectives than {recipe.search.objectives}; "
            "give the recipe a new name or pass another --storage"
        )
    return study


def make_sampler(search: SearchSection, seed: int) -> optuna.samplers.BaseSampler:
    """TPE (seeded) for one objective, NSGA-II for several, unless the recipe names one."""
    name = search.sampler
    if name == "auto":
        name = "tpe" if len(search.objectives) == 1 else "nsga2"
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=search.startup_trials, multivariate=True)


def make_pruner(recipe: Recipe) -> optuna.pruners.BasePruner:
    """The training pruner and the episode pruner the recipe asks for (none for multi-objective)."""
    search, training = recipe.search, recipe.training
    if len(search.objectives) > 1:
        return optuna.pruners.NopPruner()  # Optuna cannot prune multi-objective trials
    across_training: optuna.pruners.BasePruner | None = None
    if search.pruner == "hyperband":
        across_training = optuna.pruners.HyperbandPruner(
            min_resource=training.eval_every, max_resource=training.meta_steps, reduction_factor=3
        )
    elif search.pruner == "median":
        across_training = optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials)
    across_episodes = (
        optuna.pruners.WilcoxonPruner(p_threshold=search.wilcoxon_p_threshold) if search.wilcoxon else None
    )
    return TrainingAndEpisodePruner(across_training, across_episodes, startup_trials=search.startup_trials)


class TrainingAndEpisodePruner(optuna.pruners.BasePruner):
    """Prune if the training pruner does, or if a paired test on validation episodes does.

    Intermediate values are accuracies by training step (what Hyperband and the
    median rule read). Each validation also stores its per-episode scores as the
    user attribute ``episodes@<step>``; the Wilcoxon pruner is shown those, as if
    they were its per-instance reports, for this trial and the best trial at the
    same step, once ``startup_trials`` trials are complete (as the median rule waits).
    """

    def __init__(
        self,
        across_training: optuna.pruners.BasePruner | None,
        across_episodes: optuna.pruners.WilcoxonPruner | None,
        *,
        startup_trials: int = 0,
    ):
        self.across_training = across_training
        self.across_episodes = across_episodes
        self.startup_trials = startup_trials

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if self.across_training is not None and self.across_training.prune(study, trial):
            return True
        return self.across_episodes is not None and self._worse_on_episodes(study, trial)

    def _worse_on_episodes(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        key = episode_key(trial.last_step)
        if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < self.startup_trials:
            return False
        try:
            best = study.best_trial
        except ValueError:  # no finished trial yet
            return False
        if best.number == trial.number or key not in trial.user_attrs or key not in best.user_attrs:
            return False
        view = _EpisodeStudy(study.direction, _episodes_as_steps(best, best.user_attrs[key]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.across_episodes.prune(view, _episodes_as_steps(trial, trial.user_attrs[key]))


def episode_key(step: int | None) -> str:
    return f"episodes@{step}"


@dataclass
class _EpisodeStudy:
    """The two things WilcoxonPruner reads from a study."""

    direction: optuna.study.StudyDirection
    best_trial: FrozenTrial


def _episodes_as_steps(trial: FrozenTrial, scores: list[float]) -> FrozenTrial:
    copy = optuna.trial.create_trial(state=TrialState.COMPLETE, value=0.0, intermediate_values=dict(enumerate(scores)))
    copy.number = trial.number
    return copy


def count_finished(study: optuna.Study) -> int:
    """Trials that count toward ``search.trials``: complete, pruned, or failed for a reason of their own.

    A trial cut off by Ctrl-C or a killed process failed without a reason; its
    retry counts instead.
    """
    return sum(1 for t in study.get_trials(deepcopy=False) if _counts(t))


def _counts(trial: FrozenTrial) -> bool:
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (
        trial.state == TrialState.FAIL and "failure" in trial.user_attrs
    )


def _retry_callback() -> RetryHeartbeatStaleTrialCallback:
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
    callback = _retry_callback()
    queued = []
    for trial in trials:
        if orphans and trial.state == TrialState.RUNNING:
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            trial = study._storage.get_trial(trial._trial_id)
        if trial.state == TrialState.FAIL and not _counts(trial) and trial.number not in retried:
            with experimental_optuna():
                callback(study, trial)
            queued.append(trial.number)
    return queued


def _optimize(study: optuna.Study, objective: Callable[[optuna.Trial], Any], n_trials: int, search: SearchSection) -> None:
    timeout = search.timeout_minutes * 60 if search.timeout_minutes else None
    study.optimize(objective, n_trials=n_trials, timeout=timeout, catch=(Exception,))


# -------------------------------------------------------------------- trial


class TrialObjective:
    """Train and score one trial's strategy, keeping its folder (params, metrics, log, checkpoint)."""

    def __init__(self, recipe: Recipe, data: SplitData, run: RunDirectory, view: Any = None):
        self.recipe, self.data, self.run, self.view = recipe, data, run, view
        self.multi = len(recipe.search.objectives) > 1

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        from autometa.trainer import train

        folder = self.run.trial_dir(trial.number)
        started = time.perf_counter()
        metrics: dict[str, Any] = {"number": trial.number}
        with _trial_log(folder / "log.txt") as tlog:
            try:
                strategy = self.recipe.strategy_for(trial)
                write_json(folder / "params.json", {"params": trial.params, "strategy": strategy.model_dump(mode="json")})
                self._resume_retry(trial, folder, tlog)
                tlog.info("trial %d (process %d): %s", trial.number, os.getpid(), trial.params)
                _notify("trial_started", trial=trial, strategy=strategy)
                if self.view is not None:
                    self.view.trial_started(trial.number, self.recipe.training.meta_steps)
                result = train(
                    self.recipe, strategy, self.data, workdir=folder,
                    on_progress=self._progress(trial, tlog), on_validation=self._validation(trial, tlog),
                )
                metrics.update(val=result.val.as_dict(), steps=result.steps, tasks_per_second=result.tasks_per_second)
                values = [result.val.mean]
                if self.multi:
                    costs = measure_costs(
                        result.learner.deployable_predictor(), self.recipe.search.objectives,
                        self.recipe.evaluation.shape, self.data.preprocessing,
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

    def _progress(self, trial: optuna.Trial, tlog: logging.Logger) -> Callable[[int, int, dict], None]:
        every = max(1, self.recipe.training.meta_steps // 20)

        def on_progress(step: int, total: int, values: dict) -> None:
            if step % every == 0 or step == total:
                tlog.info("step %d/%d %s", step, total, {k: round(float(v), 4) for k, v in values.items()})
            if self.view is not None:
                self.view.trial_progress(trial.number, step, total)

        return on_progress

    def _validation(self, trial: optuna.Trial, tlog: logging.Logger) -> Callable[[int, Any], None]:
        def on_validation(step: int, result: Any) -> None:
            tlog.info("validation at step %d: %s", step, result)
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
        frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
        with experimental_optuna():
            original = RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)
            history = RetryHeartbeatStaleTrialCallback.retry_history(frozen)
        if original is None:
            return
        source = self.run.trials_dir / str(history[-1]) / "checkpoint.pt"
        target = folder / "checkpoint.pt"
        if source.is_file() and not target.exists():
            shutil.copyfile(source, target)
            tlog.info("retry of trial %d: resuming from its checkpoint", history[-1])
        else:
            tlog.info("retry of trial %d: starting afresh", history[-1])

    def _finish(self, trial, folder, metrics, started, state, values, reason) -> None:
        metrics.update(state=state, values=values, reason=reason, duration_s=round(time.perf_counter() - started, 3))
        write_json(folder / "metrics.json", metrics)
        if state != "interrupted":
            _notify("trial_finished", trial=trial, state=state, values=values, reason=reason)
        if self.view is not None:
            self.view.trial_finished(trial.number)


def failure_reason(exc: BaseException) -> str:
    """One line saying why a trial failed."""
    import torch

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


# ------------------------------------------------------------------ workers


def _run_workers(recipe_path: Path, spec: str, study: optuna.Study, remaining: int, workers: int, view: Any) -> None:
    """Run ``workers`` processes on one storage, dividing the remaining trials; the view polls the storage."""
    from autometa.plugins import loaded_plugin_modules

    context = multiprocessing.get_context("spawn")
    shares = [remaining // workers + (i < remaining % workers) for i in range(workers)]
    processes = [
        context.Process(target=_worker_main, args=(str(recipe_path), spec, share, loaded_plugin_modules()), daemon=False)
        for share in shares if share > 0
    ]
    for process in processes:
        process.start()
    view.watch(study, remaining)
    try:
        while any(p.is_alive() for p in processes):
            view.poll(study)
            time.sleep(1.0)
    except KeyboardInterrupt:  # a terminal's Ctrl-C reaches the workers too; a signal sent to us alone does not
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
        for process in processes:
            process.join(timeout=60)
        raise
    view.poll(study)


def _worker_main(recipe_path: str, spec: str, n_trials: int, plugin_modules: list[str]) -> None:
    """One worker process: load plugins, recipe and data, then run its share of trials."""
    from autometa.plugins import load_plugin_module

    for module in plugin_modules:
        load_plugin_module(module)
    recipe = load_recipe(recipe_path)
    study = open_study(spec, recipe)
    run = RunDirectory.for_recipe(recipe)
    try:
        _optimize(study, TrialObjective(recipe, _load_data(recipe), run), n_trials, recipe.search)
    except KeyboardInterrupt:
        pass


# ------------------------------------------------------------------- finish


def summarize(study: optuna.Study, recipe: Recipe, run: RunDirectory) -> list[TrialSummary]:
    trials = []
    for t in study.get_trials(deepcopy=False):
        metrics = read_json(run.trials_dir / str(t.number) / "metrics.json") or {}
        state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
                 TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}[t.state]
        reason = t.user_attrs.get("failure") or metrics.get("reason")
        if t.state == TrialState.FAIL and not _counts(t):
            reason = reason or "cut off (process killed); retried"
        duration = t.duration.total_seconds() if t.duration else None
        trials.append(TrialSummary(t.number, state, t.values, t.params, reason, duration, t.last_step, metrics))
    return trials


def best_numbers(study: optuna.Study) -> list[int]:
    """The best trial, or the Pareto front (by first objective, descending) for several objectives."""
    try:
        if len(study.directions) == 1:
            return [study.best_trial.number]
        return [t.number for t in sorted(study.best_trials, key=lambda t: -t.values[0])]
    except ValueError:
        return []


def finish(study: optuna.Study, recipe: Recipe, run: RunDirectory, spec: str,
           data: SplitData | None, started: float, *, score_test: bool) -> SearchSummary:
    """Score the best trial(s) on the test episodes, write ``best/`` and ``report.md``."""
    from autometa.search_report import write_report

    best = best_numbers(study)
    test: dict[int, dict[str, Any]] = {}
    if score_test and best:
        test = test_scores(study, recipe, run, best, data)
        winner = next(t for t in study.get_trials(deepcopy=False) if t.number == best[0])
        strategy = recipe.strategy_for(FixedSuggester(winner.params))
        run.write_best(recipe, strategy, run.trials_dir / str(best[0]) / "checkpoint.pt")
    summary = SearchSummary(
        name=recipe.name, run_dir=run.root, storage=spec, objectives=list(recipe.search.objectives),
        target_trials=recipe.search.trials, trials=summarize(study, recipe, run), best=best, test=test,
        elapsed_s=round(time.perf_counter() - started, 3),
    )
    write_report(run.report_file, summary, recipe)
    return summary


def test_scores(study: optuna.Study, recipe: Recipe, run: RunDirectory, numbers: list[int],
                data: SplitData | None) -> dict[int, dict[str, Any]]:
    """Test-episode accuracy of each trial in ``numbers`` from its checkpoint (kept in its metrics.json)."""
    scores = {}
    for number in numbers:
        folder = run.trials_dir / str(number)
        metrics = read_json(folder / "metrics.json") or {}
        if "test" not in metrics and (folder / "checkpoint.pt").is_file():
            from autometa.evaluation import evaluate_learner, split_episodes
            from autometa.trainer import load_checkpoint

            data = data or _load_data(recipe)
            learner = load_checkpoint(folder / "checkpoint.pt").learner
            metrics["test"] = evaluate_learner(learner, split_episodes(recipe, data, "test")).as_dict()
            write_json(folder / "metrics.json", metrics)
        if "test" in metrics:
            scores[number] = {k: v for k, v in metrics["test"].items() if k != "per_episode"}
    return scores
