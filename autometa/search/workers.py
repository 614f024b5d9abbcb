"""Several local worker processes on one study: each trains its share of the trials.

The processes are spawned (a fresh interpreter each, so CUDA and threads start
clean) and share the study through its storage; the parent draws the live view
by polling that storage.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import optuna

from autometa.data.loading import load_recipe_data
from autometa.plugins.host import PluginHost, default_host
from autometa.recipe.loading import load_recipe
from autometa.search.log_view import LogView
from autometa.search.observers import recipe_observers
from autometa.search.run_directory import RunDirectory
from autometa.search.study import open_study
from autometa.search.trial import TrialObjective, optimize
from autometa.search.view import SearchView


def run_workers(
    recipe_path: Path, spec: str, study: optuna.Study, remaining: int, workers: int, plugins: PluginHost,
    view: SearchView | LogView,
) -> None:
    """Run ``workers`` processes on one storage, dividing the remaining trials; the view polls the storage.

    Each worker loads the same ``--plugin`` modules as ``plugins`` did.
    """
    context = multiprocessing.get_context("spawn")
    shares = [remaining // workers + (i < remaining % workers) for i in range(workers)]
    processes = [
        context.Process(target=worker_main, args=(str(recipe_path), spec, share, plugins.loaded_modules), daemon=False)
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


def worker_main(recipe_path: str, spec: str, n_trials: int, plugin_modules: list[str]) -> None:
    """One worker process: load plugins, recipe and data, then run its share of trials (with the recipe's observers)."""
    plugins = default_host()
    for module in plugin_modules:
        plugins.load_module(module)
    recipe = load_recipe(recipe_path, plugins.registry)
    study = open_study(spec, recipe)
    run = RunDirectory.for_recipe(recipe)
    data = load_recipe_data(recipe, plugins.registry)
    with recipe_observers(recipe, plugins) as observers:
        observers.search_started(study=study, recipe=recipe, run_dir=run.root)  # this process's observers only
        try:
            optimize(study, TrialObjective(recipe, data, run, plugins), n_trials, recipe.search)
        except KeyboardInterrupt:
            pass
