"""Warm start: seed a new study with what worked on the most similar earlier searches, re-scored on its own episodes.

The sources are the earlier searches a recipe names, or with ``auto`` the
:data:`AUTO_SOURCES` recorded ones nearest by meta-features and evaluation shape
(:func:`nearest`). :func:`plan_warm_start` takes their best complete strategies,
best first and in turns across sources (the nearest first), adapts each to the
new space (:mod:`autometa.experience.adaptation`: what the new space does not
offer is dropped with a note, never clipped) and keeps up to
``search.warm_start_trials`` distinct ones. :func:`enqueue` queues them in the
study (``study.enqueue_trial``) with the trial user attribute
``transferred_from``: they are then trained and scored on this study's own fixed
episodes like any trial; no score from another study is ever copied.

:func:`prior_observations` turns the sources' trials into observations for the
sampler's first trials (:mod:`autometa.experience.prior`); they never enter the
study's own trials.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from autometa.experience.adaptation import Adapted, SearchSpace
from autometa.experience.metafeatures import meta_distance
from autometa.experience.store import TRANSFERRED_FROM, SearchRecord

#: How many of the nearest recorded searches ``warm_start: auto`` draws from.
AUTO_SOURCES = 3
#: The study user attribute that keeps the plan (the report shows it).
WARM_START_ATTR = "warm_start"


@dataclass
class Source:
    """An earlier search a warm start draws from, and its meta-feature distance (None if unknown)."""

    search: SearchRecord
    distance: float | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.search.name,
            "run_dir": self.search.key,
            "distance": None if self.distance is None else round(self.distance, 4),
            "best_value": self.search.best_value,
            "trials": len(self.search.trials),
        }


@dataclass
class WarmStart:
    """What a warm start transferred and from where (kept as the study user attribute ``warm_start``)."""

    setting: str | list[str]
    sources: list[dict[str, Any]] = field(default_factory=list)
    strategies: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    observations: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for the terminal."""
        if not self.sources:
            return "warm start: no earlier search in the experience store; starting cold"
        names = ", ".join(source["name"] for source in self.sources)
        count = len(self.strategies)
        return (
            f"warm start: {count} {'strategy' if count == 1 else 'strategies'} from {names} queued first "
            f"(re-trained and scored here); report.md lists them"
        )


def nearest(searches: list[SearchRecord], features: dict[str, float], count: int = AUTO_SOURCES) -> list[Source]:
    """The ``count`` searches with complete trials nearest to ``features`` (ties: by run directory)."""
    sources = [Source(s, meta_distance(features, s.meta_features)) for s in searches if s.ranked()]
    sources = [s for s in sources if math.isfinite(s.distance)]
    return sorted(sources, key=lambda s: (s.distance, s.search.key))[:count]


def plan_warm_start(setting: str | list[str], sources: list[Source], space: SearchSpace, count: int) -> WarmStart:
    """Up to ``count`` distinct strategies of ``sources`` adapted to ``space``, taken in turns, best first."""
    plan = WarmStart(setting, sources=[source.describe() for source in sources])
    queues = [_candidates(source, space) for source in sources]
    chosen: dict[str, str] = {}
    while queues and len(plan.strategies) < count:
        for queue in list(queues):
            if len(plan.strategies) >= count:
                break
            for label, adapted, origin in queue:  # this source's next strategy that carries over
                key = json.dumps(adapted.params, sort_keys=True, default=str)
                if adapted.skipped or key in chosen:
                    plan.notes.append(f"{label} skipped: {adapted.skipped or 'the same here as ' + chosen[key]}")
                    continue
                chosen[key] = label
                plan.notes += [f"{label}: {note}" for note in adapted.notes]
                plan.strategies.append({"params": adapted.params, TRANSFERRED_FROM: origin})
                break
            else:
                queues.remove(queue)
    return plan


def _candidates(source: Source, space: SearchSpace) -> Iterator[tuple[str, Adapted, dict[str, Any]]]:
    """Each complete trial of ``source``, best first, adapted to ``space``, with its label and origin."""
    source_space = SearchSpace(source.search.space)
    for trial in source.search.ranked():
        origin = {"search": source.search.name, "run_dir": source.search.key,
                  "trial": trial.number, "value": trial.values[0]}
        yield f"{source.search.name} #{trial.number}", space.adapt(trial.params, source_space), origin


def enqueue(study: optuna.Study, plan: WarmStart) -> None:
    """Queue the plan's strategies first; each is trained and scored here, marked ``transferred_from``."""
    for strategy in plan.strategies:
        study.enqueue_trial(strategy["params"], user_attrs={TRANSFERRED_FROM: strategy[TRANSFERRED_FROM]})


def prior_observations(sources: list[Source], space: SearchSpace) -> list[FrozenTrial]:
    """The sources' complete and pruned trials as observations in ``space``, for the sampler's prior.

    Each keeps only the values ``space`` offers (skipped strategies are left out)
    and is valued by its rank within its own search, from 1 (that search's best)
    to 0 (its worst): complete trials by score, then pruned ones, those pruned
    later first. Ranks let searches of unlike difficulty mix without one's scale
    swamping another's, and pruned trials tell the prior where not to look.
    """
    observations: list[FrozenTrial] = []
    for source in sources:
        source_space = SearchSpace(source.search.space)
        pruned = [t for t in source.search.trials if t.state == "pruned"]
        ordered = source.search.ranked() + sorted(pruned, key=lambda t: (-(t.steps or 0), t.number))
        for rank, trial in enumerate(ordered):
            adapted = space.adapt(trial.params, source_space)
            if adapted.skipped:
                continue
            observation = optuna.trial.create_trial(
                value=1 - rank / max(len(ordered) - 1, 1),
                params=adapted.params,
                distributions={name: space.distributions[name] for name in adapted.params},
            )
            observation.number = len(observations)
            observations.append(observation)
    return observations
