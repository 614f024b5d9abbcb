"""``autometa search``: Optuna proposes strategies, the trainer scores them, the best is kept.

One trial = one strategy: :meth:`Recipe.strategy_for` turns the recipe's search
space into Optuna suggestions (parameters named by their dotted path, so a
learner's conditional options get their own names), the trainer meta-trains it
and reports the validation accuracy every ``eval_every`` steps, and the pruners
(:mod:`autometa.search.pruning`) stop losers early. The study lives in Optuna
storage (:mod:`autometa.search.study`), so the same command resumes it: finished
trials are never redone, and a trial cut off by Ctrl-C or a killed process is
retried from its last checkpoint (:mod:`autometa.search.retries`). At the end the
winner is scored on the test episodes, ``best/`` and the report are written, and
the recipe's compression and export run; ``report.html`` comes last
(:mod:`autometa.search.publish`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from autometa.components.registry import Registry
from autometa.data.dataset import SplitData
from autometa.data.loading import at_size, load_recipe_data
from autometa.data.progress import silenced
from autometa.deploy.pipeline import compress_run
from autometa.deploy.preflight import preflight
from autometa.errors import SearchInterrupted
from autometa.experience.warm_start import WARM_START_ATTR
from autometa.learning.checkpoint import load_checkpoint
from autometa.learning.evaluation import evaluate_learner, split_episodes
from autometa.plugins.host import PluginHost
from autometa.recipe.loading import load_recipe
from autometa.recipe.schema import Recipe
from autometa.recipe.space import FixedSuggester
from autometa.search.experience import record_experience, warm_start
from autometa.search.log_view import search_view
from autometa.search.observers import recipe_observers
from autometa.search.preview import update_preview
from autometa.search.publish import publish_results
from autometa.search.redact import redact_storage
from autometa.search.refit import refit_winner
from autometa.search.report import write_report
from autometa.search.retries import count_finished, requeue_unfinished
from autometa.search.run_directory import RunDirectory, RunLock, read_json, write_json
from autometa.search.run_log import run_log
from autometa.search.storage import is_database_url
from autometa.search.study import delete_if_empty, open_study
from autometa.search.summary import SearchSummary, best_numbers, summarize, top_numbers
from autometa.search.trial import TrialObjective, optimize
from autometa.search.workers import run_workers

log = logging.getLogger("autometa.search")


def run_search(
    recipe_path: Path,
    plugins: PluginHost,
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
    Components, observers and the workers' ``--plugin`` modules come from ``plugins``.
    Messages and tracebacks go to the run's ``search.log``, not the terminal.
    """
    started = time.perf_counter()
    registry = plugins.registry
    recipe = load_recipe(recipe_path, registry)
    workers = workers or recipe.search.workers
    run = RunDirectory.for_recipe(recipe)
    with (run.lock(shared=storage is not None) as hold, run_log(run.log_file),
          recipe_observers(recipe, plugins), silenced(quiet or as_json)):
        spec = storage or run.default_storage()
        view = search_view(recipe, quiet=quiet or as_json)
        study, data = open_search(recipe, run, hold, spec, registry, owned=storage is None, note=view.note)
        plugins.notify("search_started", study=study, recipe=recipe, run_dir=run.root)
        interrupted = False
        try:
            if data is not None:
                for warning in data.warnings:
                    view.note(f"warning: {warning}")
                preflight(recipe, data.preprocessing, registry, note=view.note)  # before any trial trains
                warm_start(study, recipe, data, view.note)
                with view:
                    if workers <= 1:
                        view.watch(study, recipe.search.trials - count_finished(study))
                        objective = TrialObjective(recipe, data, run, plugins, view)
                        optimize(study, objective, recipe.search, heartbeats=is_database_url(spec))
                    else:
                        run_workers(recipe_path, spec, study, run, recipe.search, workers, plugins, view)
        except KeyboardInterrupt:
            interrupted = True
            requeue_unfinished(study, orphans=False)  # the cut-off trial's retry: another worker or the next run
        except BaseException:  # the report still shows what was done; the error is what the user sees
            report_after_error(study, recipe, run, spec, data, plugins, started)
            raise
        summary = finish(study, recipe, run, spec, data, registry, started, score_test=not interrupted)
        plugins.notify("search_finished", study=study, run_dir=run.root, summary=summary)
        try:
            if interrupted:
                raise SearchInterrupted(
                    f"search interrupted; {len(summary.trials)} trials saved in {run.root}: "
                    "run the same command to resume"
                )
            if data is not None:  # trials ran in this run
                record_experience(study, recipe, run, data, view.note)
            if summary.best and recipe.export.refit:
                view.note(f"refitting trial {summary.best[0]} on meta-train + meta-val into {run.root / 'refit'}")
                refit_winner(recipe, run, summary.best[0], data, registry)
            if summary.best and (recipe.compression is not None or recipe.export.formats):
                view.note(f"compressing and exporting trial {summary.best[0]} into {run.root / 'artifacts'}")
                summary.artifacts = compress_run(run.root, registry, recipe=recipe, skip_if_current=True)
        finally:  # report.html last, so it shows the compression too
            publish_results(run, study, spec)
    return summary


def report_after_error(study: optuna.Study, recipe: Recipe, run: RunDirectory, spec: str,
                       data: SplitData | None, plugins: PluginHost, started: float) -> None:
    """After a search stopped on an error: the reports and observers still see what was done
    (a failure here is logged, never hiding the error itself)."""
    summary = None
    try:
        summary = finish(study, recipe, run, spec, data, plugins.registry, started, score_test=False)
        publish_results(run, study, spec)
    except Exception:
        log.warning("could not write the report after the search stopped", exc_info=True)
    plugins.notify("search_finished", study=study, run_dir=run.root, summary=summary)


def open_search(recipe: Recipe, run: RunDirectory, hold: RunLock, spec: str, registry: Registry, *,
                owned: bool, note: Callable[[str], None]) -> tuple[optuna.Study, SplitData | None]:
    """Record the recipe, open the study (re-queueing cut-off trials) and load the data if trials remain.

    If any of it fails (a data check, the storage), nothing this command made is
    left behind: neither a run directory it created nor a study it created.
    """
    study, created = None, False
    try:
        run.prepare(recipe)
        study, created = open_study(spec, recipe, run, owned=owned)
        requeue_unfinished(study, orphans=owned)
        if count_finished(study) >= recipe.search.trials:
            return study, None
        # loaded here also with workers: the first load fills the cache they read
        note(f"loading data set {recipe.data.dataset.name} (the first use may render and cache it)")
        return study, load_recipe_data(recipe, registry)
    except BaseException:
        if created and study is not None:  # the run directory had no record of a study before this one
            delete_if_empty(study)
            run.study_record_file.unlink(missing_ok=True)
        hold.discard_if_fresh()
        raise


def finish(study: optuna.Study, recipe: Recipe, run: RunDirectory, spec: str,
           data: SplitData | None, registry: Registry, started: float, *, score_test: bool) -> SearchSummary:
    """Score the best trial(s) on the test episodes, write ``best/`` (with the episode preview) and ``report.md``."""
    best = best_numbers(study)
    test = test_scores(recipe, run, best, data, registry, compute=score_test)  # recorded ones even if not
    if score_test and best:
        winner = next(t for t in study.get_trials(deepcopy=False) if t.number == best[0])
        strategy = recipe.strategy_for(FixedSuggester(winner.params))
        checkpoint = run.trials_dir / str(best[0]) / "checkpoint.pt"  # absent if another machine ran it
        run.write_best(recipe, strategy, checkpoint)
        if checkpoint.is_file():
            update_preview(run.preview_file, best[0], checkpoint, recipe, data, registry)
        if recipe.export.ensemble > 1:
            members = {n: run.trials_dir / str(n) / "checkpoint.pt" for n in top_numbers(study, recipe.export.ensemble)}
            run.write_ensemble({n: path for n, path in members.items() if path.is_file()})
    summary = SearchSummary(
        name=recipe.name, run_dir=run.root, storage=redact_storage(spec), objectives=list(recipe.search.objectives),
        target_trials=recipe.search.trials, trials=summarize(study, run), best=best, test=test,
        elapsed_s=round(time.perf_counter() - started, 3), warm_start=study.user_attrs.get(WARM_START_ATTR, {}),
    )
    write_report(run.report_file, summary, recipe)
    return summary


def test_scores(recipe: Recipe, run: RunDirectory, numbers: list[int], data: SplitData | None,
                registry: Registry, *, compute: bool = True) -> dict[int, dict[str, Any]]:
    """Test-episode accuracy of each trial in ``numbers``: recorded in its metrics.json, else (if ``compute``)
    scored from its checkpoint and recorded there."""
    scores = {}
    for number in numbers:
        folder = run.trials_dir / str(number)
        metrics = read_json(folder / "metrics.json") or {}
        if compute and "test" not in metrics and (folder / "checkpoint.pt").is_file():
            data = data or load_recipe_data(recipe, registry)
            checkpoint = load_checkpoint(folder / "checkpoint.pt", registry)
            sized = at_size(data, checkpoint.preprocessing.image_size)
            metrics["test"] = evaluate_learner(checkpoint.learner, split_episodes(recipe, sized, "test")).as_dict()
            write_json(folder / "metrics.json", metrics)
        if "test" in metrics:
            scores[number] = {k: v for k, v in metrics["test"].items() if k != "per_episode"}
    return scores
