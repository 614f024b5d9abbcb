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

import time
from pathlib import Path
from typing import Any

import optuna

from autometa.components.registry import Registry
from autometa.data.dataset import SplitData
from autometa.data.loading import load_recipe_data
from autometa.data.progress import silenced
from autometa.deploy.pipeline import compress_run
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
from autometa.search.report import write_report
from autometa.search.retries import count_finished, requeue_unfinished
from autometa.search.run_directory import RunDirectory, read_json, write_json
from autometa.search.study import open_study
from autometa.search.summary import SearchSummary, best_numbers, summarize
from autometa.search.trial import TrialObjective, optimize
from autometa.search.workers import run_workers


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
    """
    started = time.perf_counter()
    registry = plugins.registry
    recipe = load_recipe(recipe_path, registry)
    workers = workers or recipe.search.workers
    run = RunDirectory.for_recipe(recipe)
    with run.lock(), recipe_observers(recipe, plugins), silenced(quiet or as_json):
        run.prepare(recipe)
        spec = storage or run.default_storage(workers)
        study = open_study(spec, recipe)
        local = storage is None
        requeue_unfinished(study, orphans=local)
        plugins.notify("search_started", study=study, recipe=recipe, run_dir=run.root)
        view = search_view(recipe, quiet=quiet or as_json)
        finished = interrupted = False
        data: SplitData | None = None
        try:
            remaining = recipe.search.trials - count_finished(study)
            if remaining > 0:  # loaded here also with workers: the first load fills the cache they read
                view.note(f"loading data set {recipe.data.dataset.name} (the first use may render and cache it)")
                data = load_recipe_data(recipe, registry)
                for warning in data.warnings:
                    view.note(f"warning: {warning}")
                warm_start(study, recipe, data, view.note)
                with view:
                    if workers <= 1:
                        view.watch(study, remaining)
                        optimize(study, TrialObjective(recipe, data, run, plugins, view), remaining, recipe.search)
                    else:
                        run_workers(recipe_path, spec, study, remaining, workers, plugins, view)
            finished = True
        except KeyboardInterrupt:
            interrupted = True
        finally:  # on Ctrl-C or an error too, so the report shows what was done
            summary = finish(study, recipe, run, spec, data, registry, started, score_test=finished)
            plugins.notify("search_finished", study=study, run_dir=run.root, summary=summary)
        try:
            if interrupted:
                raise SearchInterrupted(
                    f"search interrupted; {len(summary.trials)} trials saved in {run.root}: "
                    "run the same command to resume"
                )
            if data is not None:  # trials ran in this run
                record_experience(study, recipe, run, data, view.note)
            if summary.best and (recipe.compression is not None or recipe.export.formats):
                view.note(f"compressing and exporting trial {summary.best[0]} into {run.root / 'artifacts'}")
                summary.artifacts = compress_run(run.root, registry, recipe=recipe, skip_if_current=True)
        finally:  # report.html last, so it shows the compression too
            publish_results(run, study, spec)
    return summary


def _load_data(recipe: Recipe) -> SplitData:
    """The recipe's data, checked against every episode shape the search can ask for."""
    from autometa.data import load_data
    from autometa.episodes import check_recipe_shapes

    data = load_data(recipe.data)
    check_recipe_shapes(recipe, data)
    return data


def finish(study: optuna.Study, recipe: Recipe, run: RunDirectory, spec: str,
           data: SplitData | None, registry: Registry, started: float, *, score_test: bool) -> SearchSummary:
    """Score the best trial(s) on the test episodes, write ``best/`` (with the episode preview) and ``report.md``."""
    best = best_numbers(study)
    test: dict[int, dict[str, Any]] = {}
    if score_test and best:
        test = test_scores(recipe, run, best, data, registry)
        winner = next(t for t in study.get_trials(deepcopy=False) if t.number == best[0])
        strategy = recipe.strategy_for(FixedSuggester(winner.params))
        run.write_best(recipe, strategy, run.trials_dir / str(best[0]) / "checkpoint.pt")
        update_preview(run.preview_file, best[0], run.best_dir / "checkpoint.pt", recipe, data, registry)
    summary = SearchSummary(
        name=recipe.name, run_dir=run.root, storage=spec, objectives=list(recipe.search.objectives),
        target_trials=recipe.search.trials, trials=summarize(study, run), best=best, test=test,
        elapsed_s=round(time.perf_counter() - started, 3), warm_start=study.user_attrs.get(WARM_START_ATTR, {}),
    )
    write_report(run.report_file, summary, recipe)
    return summary


def test_scores(recipe: Recipe, run: RunDirectory, numbers: list[int],
                data: SplitData | None, registry: Registry) -> dict[int, dict[str, Any]]:
    """Test-episode accuracy of each trial in ``numbers`` from its checkpoint (kept in its metrics.json)."""
    scores = {}
    for number in numbers:
        folder = run.trials_dir / str(number)
        metrics = read_json(folder / "metrics.json") or {}
        if "test" not in metrics and (folder / "checkpoint.pt").is_file():
            data = data or load_recipe_data(recipe, registry)
            learner = load_checkpoint(folder / "checkpoint.pt", registry).learner
            metrics["test"] = evaluate_learner(learner, split_episodes(recipe, data, "test")).as_dict()
            write_json(folder / "metrics.json", metrics)
        if "test" in metrics:
            scores[number] = {k: v for k, v in metrics["test"].items() if k != "per_episode"}
    return scores
