"""Where a search meets the experience store: warm-start a new study, record a finished one.

:func:`warm_start` runs once the data is loaded, before the first trial. For a
new study with ``search.warm_start`` set it finds the earlier searches (the
nearest recorded ones for ``auto``, else the named run directories or recorded
names), queues their best strategies adapted to this space, and keeps the plan
as the study user attribute ``warm_start`` (the report shows it). On every run
of a single-objective TPE search it also gives the sampler its prior
(:mod:`autometa.experience.prior`). With no earlier search it changes nothing:
a cold start.

:func:`record_experience` runs after a search in which trials ran (a first run
or a resume), unless ``search.record_experience`` is false: it replaces this
run directory's record in the store. A store that cannot be written is a
warning, never a lost search. The data set's meta-features are computed once
per study and kept as its user attribute ``meta_features``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from autometa.data.dataset import SplitData
from autometa.errors import ExperienceError
from autometa.experience.adaptation import SearchSpace
from autometa.experience.metafeatures import meta_distance, meta_features
from autometa.experience.prior import PriorSampler
from autometa.experience.store import TRANSFERRED_FROM, ExperienceStore, SearchRecord, TrialRecord
from autometa.experience.warm_start import (
    WARM_START_ATTR,
    Source,
    WarmStart,
    enqueue,
    nearest,
    plan_warm_start,
    prior_observations,
)
from autometa.recipe.schema import Recipe, SearchSection
from autometa.search.identity import STUDY_NAME
from autometa.search.retries import experimental_optuna
from autometa.search.run_directory import RESUMABLE_SECTIONS, RunDirectory
from autometa.search.seeding import TrialSeededSampler
from autometa.search.storage import open_storage
from autometa.search.study import make_sampler, sampler_name
from autometa.search.summary import STATE_NAMES

log = logging.getLogger("autometa.search")

META_FEATURES_ATTR = "meta_features"
#: The trial states a record keeps (finished ones).
RECORDED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def warm_start(study: optuna.Study, recipe: Recipe, data: SplitData, note: Callable[[str], None]) -> None:
    """Queue the transferred strategies in a new study and give the sampler its prior (see the module docstring)."""
    setting = recipe.search.warm_start
    if setting is None:
        return
    store = ExperienceStore.default()
    space = SearchSpace(recipe.strategy)
    if not study.get_trials(deepcopy=False):
        features = study_meta_features(study, recipe, data)
        sources = nearest(store.searches(), features) if setting == "auto" else _named_sources(setting, store, features)
        plan = plan_warm_start(setting, sources, space, min(recipe.search.warm_start_trials, recipe.search.trials))
        enqueue(study, plan)
    elif WARM_START_ATTR in study.user_attrs:
        plan = WarmStart(**study.user_attrs[WARM_START_ATTR])
        sources = _still_recorded(plan, store)
    else:
        note("warm start: this study already has trials from a cold start; warm starts apply to new studies")
        return
    single_tpe = sampler_name(recipe.search) == "tpe" and len(study.directions) == 1
    observations = prior_observations(sources, space) if single_tpe else []
    if observations:  # every trial its own stream, as in a cold search (autometa.search.seeding)
        study.sampler = TrialSeededSampler(partial(_prior_sampler, recipe.search, observations), recipe.seed)
    plan.observations = len(observations)
    study.set_user_attr(WARM_START_ATTR, plan.as_dict())
    note(plan.summary())


def _prior_sampler(search: SearchSection, observations: list[FrozenTrial], seed: int) -> PriorSampler:
    return PriorSampler(make_sampler(search, seed), observations, startup_trials=search.startup_trials, seed=seed)


def record_experience(study: optuna.Study, recipe: Recipe, run: RunDirectory, data: SplitData,
                      note: Callable[[str], None]) -> None:
    """Record this search in the experience store (unless the recipe says not to); a failure is a warning."""
    if not recipe.search.record_experience:
        return
    try:
        record = search_record(study, recipe.model_dump(mode="json"), run.root, study_meta_features(study, recipe, data))
        ExperienceStore.default().record(record)
    except ExperienceError as exc:
        log.warning("not recorded in the experience store: %s", exc)
        note(f"warning: the search is saved, but not recorded in the experience store: {exc}")


def study_meta_features(study: optuna.Study, recipe: Recipe, data: SplitData) -> dict[str, float]:
    """The data set's meta-features for the evaluation shape, computed once per study (a study user attribute)."""
    if META_FEATURES_ATTR not in study.user_attrs:
        study.set_user_attr(META_FEATURES_ATTR, meta_features(data, recipe.evaluation.shape))
    return study.user_attrs[META_FEATURES_ATTR]


def search_record(study: optuna.Study, recipe: dict[str, Any], root: Path, features: dict[str, float]) -> SearchRecord:
    """The store's record of the search in ``root`` (``recipe``: its resolved recipe as plain data)."""
    problem = {k: v for k, v in recipe.items() if k not in (*RESUMABLE_SECTIONS, "name", "seed", "output_dir")}
    dataset = recipe["data"]["dataset"]
    return SearchRecord(
        key=str(Path(root).resolve()),
        name=recipe["name"],
        dataset=dataset if isinstance(dataset, str) else next(iter(dataset)),
        objectives=list(recipe["search"]["objectives"]),
        evaluation={k: recipe["evaluation"][k] for k in ("ways", "shots", "queries")},
        space=recipe["strategy"],
        meta_features=features,
        fingerprint=hashlib.sha256(json.dumps(problem, sort_keys=True, default=str).encode()).hexdigest()[:16],
        trials=trial_records(study.get_trials(deepcopy=False)),
        warm_start=study.user_attrs.get(WARM_START_ATTR, {}),
    )


def trial_records(trials: list[FrozenTrial]) -> list[TrialRecord]:
    """The finished trials of a study as records (running and waiting ones are left out)."""
    return [
        TrialRecord(
            number=t.number,
            state=STATE_NAMES[t.state],
            values=t.values,
            params=t.params,
            seconds=t.duration.total_seconds() if t.duration else None,
            steps=t.last_step,
            transferred_from=t.user_attrs.get(TRANSFERRED_FROM),
        )
        for t in trials
        if t.state in RECORDED_STATES
    ]


def _named_sources(references: list[str], store: ExperienceStore, features: dict[str, float]) -> list[Source]:
    sources = []
    for reference in references:
        try:
            search = _search_of(reference, store)
        except ExperienceError as exc:
            raise ExperienceError(f"search.warm_start: {exc}") from None
        distance = meta_distance(features, search.meta_features)
        sources.append(Source(search, distance if math.isfinite(distance) else None))
    return sources


def _still_recorded(plan: WarmStart, store: ExperienceStore) -> list[Source]:
    """A resumed study's sources, as far as they can still be found."""
    sources = []
    for described in plan.sources:
        try:
            sources.append(Source(_search_of(described["run_dir"], store), described["distance"]))
        except ExperienceError:
            log.warning("warm start: earlier search %s is gone; the sampler's prior leaves it out", described["run_dir"])
    return sources


def _search_of(reference: str, store: ExperienceStore) -> SearchRecord:
    """A recorded search (by run directory or name), else a run directory read in place."""
    try:
        return store.find(reference)
    except ExperienceError:
        if not (Path(reference) / "recipe.yaml").is_file():
            raise
    return _read_run_directory(RunDirectory(Path(reference)))


def _read_run_directory(run: RunDirectory) -> SearchRecord:
    """The record of a run directory that is not in the store (e.g. recorded elsewhere or turned off)."""
    if not (run.sqlite_file.is_file() or run.journal_file.is_file()):
        raise ExperienceError(f"{run.root} holds no study; run its search first, or name another")
    try:
        recipe = yaml.safe_load(run.recipe_file.read_text(encoding="utf-8"))
        with experimental_optuna():
            study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(run.default_storage()))
        return search_record(study, recipe, run.root, study.user_attrs.get(META_FEATURES_ATTR, {}))
    except Exception as exc:  # yaml, sqlalchemy, missing keys: all mean "not a readable run directory"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExperienceError(f"{run.root}: cannot be read as a search ({reason}); name another") from None
