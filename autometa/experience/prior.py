"""The sampler's prior: TPE fitted to earlier searches' observations proposes the study's first trials.

A cold TPE samples its first ``startup_trials`` trials at random. A warm-started
study's :class:`PriorSampler` proposes them instead with a second, seeded TPE
that reads only the transferred observations
(:func:`~autometa.experience.warm_start.prior_observations`) through
:class:`_ObservationsStudy`, an object that answers the few questions TPE asks
a study. Once the study has ``startup_trials`` finished trials of its own, the
study's own sampler takes over and never sees an earlier search's trial. The
observations are not added to the study: its trials, best trial and pruning
are its own.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class PriorSampler(optuna.samplers.BaseSampler):
    """Samples from TPE fitted to ``observations`` while the study has fewer than ``startup_trials`` finished trials,
    then from ``own`` (the study's sampler)."""

    def __init__(self, own: optuna.samplers.BaseSampler, observations: list[FrozenTrial], *,
                 startup_trials: int, seed: int):
        self.own = own
        self.observations = observations
        self.startup_trials = startup_trials
        self.prior = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials, multivariate=True)

    def _sampler_and_study(self, study: optuna.Study) -> tuple[optuna.samplers.BaseSampler, Any]:
        if len(study.get_trials(deepcopy=False, states=_FINISHED)) < self.startup_trials:
            return self.prior, _ObservationsStudy(study, self.observations)
        return self.own, study

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        sampler, seen = self._sampler_and_study(study)
        return sampler.infer_relative_search_space(seen, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        sampler, seen = self._sampler_and_study(study)
        return sampler.sample_relative(seen, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        sampler, seen = self._sampler_and_study(study)
        return sampler.sample_independent(seen, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.own.before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.own.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.own.reseed_rng()
        self.prior.reseed_rng()


class _ObservationsStudy:
    """What TPE reads from a study (trials, direction), answered with the observations; one maximised objective."""

    _study_id = -1  # TPE's search-space cache is keyed by study id: never the real study's
    direction = StudyDirection.MAXIMIZE
    directions = [StudyDirection.MAXIMIZE]

    def __init__(self, study: optuna.Study, observations: list[FrozenTrial]):
        self._study = study
        self._observations = observations

    def _is_multi_objective(self) -> bool:
        return False

    def _get_trials(self, deepcopy: bool = False, states: Container[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        return [t for t in self._observations if states is None or t.state in states]

    def get_trials(self, deepcopy: bool = False, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy, states)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)
