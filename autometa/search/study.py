"""The Optuna study of a search: its sampler, and opening it safely next to its run directory.

The storage is opened by :mod:`autometa.search.storage`; the study is created
once (by whichever process comes first) and checked to hold this recipe's
search and this run directory's trials (:mod:`autometa.search.identity`). The
sampler is TPE for one objective and NSGA-II for several, unless the recipe
names one, seeded per trial (:mod:`autometa.search.seeding`).
"""

from __future__ import annotations

from functools import partial

import optuna

from autometa.errors import RunDirectoryError
from autometa.recipe.schema import Recipe, SearchSection
from autometa.search.identity import STUDY_NAME, bind_run_directory, check_storage_present, claim_study
from autometa.search.objectives import DIRECTIONS
from autometa.search.pruning import make_pruner
from autometa.search.redact import redact_storage
from autometa.search.run_directory import RunDirectory
from autometa.search.seeding import TrialSeededSampler
from autometa.search.storage import open_storage, sqlite_path, storage_error


def directions(recipe: Recipe) -> list[str]:
    """Optuna's direction of each of the recipe's objectives."""
    return [DIRECTIONS[name] for name in recipe.search.objectives]


def open_study(spec: str, recipe: Recipe, run: RunDirectory, *, owned: bool) -> tuple[optuna.Study, bool]:
    """Create or load the study of ``recipe`` in ``spec``; returns it and whether this call created it.

    ``owned``: ``spec`` is the run directory's own storage. A storage holding
    another search, or one without the study while ``run`` holds trial folders,
    is one clear error, and nothing is created then.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = sqlite_path(spec)
    if path is not None and (not path.is_file() or path.stat().st_size == 0):
        check_storage_present(run, spec, exists=False)  # before SQLite creates the file
    storage = open_storage(spec, recipe.search)
    options = {"sampler": TrialSeededSampler(partial(make_sampler, recipe.search), recipe.seed),
               "pruner": make_pruner(recipe)}
    try:
        exists = STUDY_NAME in optuna.get_all_study_names(storage)
        check_storage_present(run, spec, exists=exists)
        created = not exists
        try:
            study = optuna.create_study(
                storage=storage, study_name=STUDY_NAME, directions=directions(recipe), **options
            )
        except optuna.exceptions.DuplicatedStudyError:  # another worker created it a moment ago
            created = False
        if not created:
            study = optuna.load_study(storage=storage, study_name=STUDY_NAME, **options)
    except RunDirectoryError:
        raise
    except Exception as exc:  # sqlalchemy, json and version errors all mean "cannot use this storage"
        raise storage_error(spec, exc) from None
    wanted = [optuna.study.StudyDirection[d.upper()] for d in directions(recipe)]
    if study.directions != wanted:
        raise RunDirectoryError(
            f"storage {redact_storage(spec)}: holds a study with other objectives than {recipe.search.objectives}; "
            "give this search its own database or file"
        )
    identity = claim_study(study, recipe, spec, created=created, adopt_unmarked=owned)
    bind_run_directory(run, spec, identity, study)
    return study, created


def delete_if_empty(study: optuna.Study) -> None:
    """Delete a study that holds no trial (one this command created before it failed to start)."""
    if not study.get_trials(deepcopy=False):
        optuna.delete_study(study_name=study.study_name, storage=study._storage)


def sampler_name(search: SearchSection) -> str:
    """The sampler a search uses: TPE for one objective, NSGA-II for several, unless the recipe names one."""
    if search.sampler == "auto":
        return "tpe" if len(search.objectives) == 1 else "nsga2"
    return search.sampler


def make_sampler(search: SearchSection, seed: int) -> optuna.samplers.BaseSampler:
    """The search's sampler (:func:`sampler_name`), seeded with ``seed``."""
    name = sampler_name(search)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=search.startup_trials, multivariate=True)
