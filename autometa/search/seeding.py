"""Each trial samples from its own random stream, so processes sharing a study never repeat each other.

A sampler seeded once per process with the recipe's seed makes every process
draw the same sequence: two workers proposed identical strategies, and a resumed
search repeated the trials it had already run. Optuna offers no per-worker
seeding, so :class:`TrialSeededSampler` builds a fresh sampler for every trial,
seeded from the recipe's seed and the trial's number. Trial numbers are unique
in a study (the storage hands them out), so every trial draws from its own
stream whichever process or run asks for it, and one process with one seed
proposes the same strategies on every fresh run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState


def trial_seed(seed: int, number: int) -> int:
    """A seed in ``[0, 2**32)`` for trial ``number``, the same in every process and Python run."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class TrialSeededSampler(BaseSampler):
    """Delegates to ``make(trial_seed(seed, trial.number))``, a sampler built afresh for each trial."""

    def __init__(self, make: Callable[[int], BaseSampler], seed: int):
        self.make, self.seed = make, seed
        self.current = make(seed)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.current = self.make(trial_seed(self.seed, trial.number))
        self.current.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.current.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.current.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.current.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.current.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:  # each trial is seeded from its number; nothing to reseed
        pass
