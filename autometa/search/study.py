"""The Optuna study of a search: its storage, its sampler, and opening it safely.

A database URL (``sqlite:///...``, ``postgresql://...``) gets heartbeats, so a
dead worker's trial is failed and retried; a plain path is a journal file. The
sampler is TPE (seeded) for one objective and NSGA-II for several, unless the
recipe names one.
"""

from __future__ import annotations

import optuna

from autometa.errors import RunDirectoryError
from autometa.recipe.schema import Recipe, SearchSection
from autometa.search.objectives import DIRECTIONS
from autometa.search.pruning import make_pruner
from autometa.search.retries import experimental_optuna, retry_callback

#: Seconds between a running trial's heartbeats in database storage, and how long
#: a silent trial may stay RUNNING before another worker retries it.
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60
STUDY_NAME = "autometa"


def directions(recipe: Recipe) -> list[str]:
    """Optuna's direction of each of the recipe's objectives."""
    return [DIRECTIONS[name] for name in recipe.search.objectives]


def open_storage(spec: str) -> optuna.storages.BaseStorage:
    """A database URL gets heartbeats (a dead worker's trial is retried); a path is a journal file."""
    if "://" in spec:
        return optuna.storages.RDBStorage(
            spec,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
            heartbeat_stale_trial_callback=retry_callback(),
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
