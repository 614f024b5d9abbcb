"""Several local worker processes on one study: they share its budget, and a dead one loses nothing.

The processes are spawned (a fresh interpreter each, so CUDA and threads start
clean) and share the study through its storage, by default the run directory's
SQLite file, whose heartbeats let any process retry a dead one's trial. Each
worker runs trials until the study's budget is spent
(:func:`autometa.search.trial.optimize`). The parent draws the live view by
polling the storage; when a worker dies (kill -9, out of memory) the parent fails
its running trial at once and re-queues it, so another worker resumes it from its
checkpoint, and starts a replacement. Workers end with their parent
(:mod:`autometa.search.parent_watch`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
from multiprocessing.process import BaseProcess
from pathlib import Path

import optuna

from autometa.data.loading import load_recipe_data
from autometa.errors import WorkerError
from autometa.plugins.host import PluginHost, default_host
from autometa.recipe.loading import load_recipe
from autometa.recipe.schema import SearchSection
from autometa.search.budget import Step, next_step
from autometa.search.experience import warm_start
from autometa.search.log_view import LogView
from autometa.search.observers import recipe_observers
from autometa.search.parent_watch import stop_with_parent
from autometa.search.retries import MAX_RETRIES, count_finished, fail_trials_of, worker_id
from autometa.search.run_directory import RunDirectory
from autometa.search.run_log import run_log
from autometa.search.storage import is_database_url
from autometa.search.study import open_study
from autometa.search.trial import TrialObjective, optimize
from autometa.search.view import SearchView

log = logging.getLogger("autometa.search")


def run_workers(
    recipe_path: Path, spec: str, study: optuna.Study, run: RunDirectory, search: SearchSection, workers: int,
    plugins: PluginHost, view: SearchView | LogView,
) -> None:
    """Run ``workers`` processes on the study in ``spec`` until its budget is spent; the view polls the storage.

    Each worker loads the same ``--plugin`` modules as ``plugins`` did. A worker
    killed by a signal is replaced (at most ``MAX_RETRIES`` times per worker); one
    that fails is a :class:`WorkerError` once the others have ended.
    """
    context = multiprocessing.get_context("spawn")

    def start() -> BaseProcess:
        process = context.Process(
            target=worker_main, daemon=False,
            args=(str(recipe_path), spec, plugins.loaded_modules, os.getpid(), str(run.log_file)),
        )
        process.start()
        return process

    live = [start() for _ in range(workers)]
    restarts, failed = workers * MAX_RETRIES, []
    view.watch(study, search.trials - count_finished(study))
    try:
        while live:
            view.poll(study)
            for process in [p for p in live if not p.is_alive()]:
                live.remove(process)
                if process.exitcode == 0:
                    continue
                fail_trials_of(study, worker_id(process.pid))
                spent = next_step(study, search.trials, heartbeats=True) == Step.DONE
                if process.exitcode < 0 and restarts > 0 and not spent:  # killed by a signal: replace it
                    restarts -= 1
                    live.append(start())
                elif process.exitcode > 0:
                    failed.append(process.exitcode)
            time.sleep(1.0)
    except KeyboardInterrupt:  # a terminal's Ctrl-C reaches the workers too; a signal sent to us alone does not
        for process in live:
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
        for process in live:
            process.join(timeout=60)
        raise
    view.poll(study)
    if failed:
        raise WorkerError(
            f"{len(failed)} of the search's worker processes failed; their tracebacks are in the run's search.log"
        )


def worker_main(recipe_path: str, spec: str, plugin_modules: list[str], parent_pid: int, log_file: str) -> None:
    """One worker process: load plugins, recipe and data, then run trials until the study's budget is spent
    (with the recipe's observers, and the warm start's sampler prior if the study has one).

    It ends with its parent; its errors go to the run's log (and its exit code), not the terminal.
    """
    stop_with_parent(parent_pid)
    try:
        with run_log(Path(log_file)):
            plugins = default_host()
            for module in plugin_modules:
                plugins.load_module(module)
            recipe = load_recipe(recipe_path, plugins.registry)
            run = RunDirectory.for_recipe(recipe)
            study, _ = open_study(spec, recipe, run, owned=True)
            data = load_recipe_data(recipe, plugins.registry)
            warm_start(study, recipe, data, log.info)
            with recipe_observers(recipe, plugins) as observers:
                observers.search_started(study=study, recipe=recipe, run_dir=run.root)  # this process's observers only
                objective = TrialObjective(recipe, data, run, plugins)
                optimize(study, objective, recipe.search, heartbeats=is_database_url(spec))
    except KeyboardInterrupt:
        pass
    except Exception:
        sys.exit(1)  # logged by run_log; the parent reports it
