"""Pruning losers early: across training steps (Hyperband, median) and across validation episodes (Wilcoxon).

Every candidate is scored on the same fixed validation episodes, so a trial's
per-episode scores pair with the best trial's at the same step, and Optuna's
``WilcoxonPruner`` (a paired signed-rank test) can stop a trial that is worse on
them before its training ends.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from autometa.recipe.schema import Recipe


def make_pruner(recipe: Recipe) -> optuna.pruners.BasePruner:
    """The training pruner and the episode pruner the recipe asks for (none for multi-objective)."""
    search, training = recipe.search, recipe.training
    if len(search.objectives) > 1:
        return optuna.pruners.NopPruner()  # Optuna cannot prune multi-objective trials
    across_training: optuna.pruners.BasePruner | None = None
    if search.pruner == "hyperband":
        across_training = optuna.pruners.HyperbandPruner(
            min_resource=training.eval_every, max_resource=training.meta_steps, reduction_factor=3
        )
    elif search.pruner == "median":
        across_training = optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials)
    across_episodes = (
        optuna.pruners.WilcoxonPruner(p_threshold=search.wilcoxon_p_threshold) if search.wilcoxon else None
    )
    return TrainingAndEpisodePruner(across_training, across_episodes, startup_trials=search.startup_trials)


class TrainingAndEpisodePruner(optuna.pruners.BasePruner):
    """Prune if the training pruner does, or if a paired test on validation episodes does.

    Intermediate values are accuracies by training step (what Hyperband and the
    median rule read). Each validation also stores its per-episode scores as the
    user attribute ``episodes@<step>``; the Wilcoxon pruner is shown those, as if
    they were its per-instance reports, for this trial and the best trial at the
    same step, once ``startup_trials`` trials are complete (as the median rule waits).
    """

    def __init__(
        self,
        across_training: optuna.pruners.BasePruner | None,
        across_episodes: optuna.pruners.WilcoxonPruner | None,
        *,
        startup_trials: int = 0,
    ):
        self.across_training = across_training
        self.across_episodes = across_episodes
        self.startup_trials = startup_trials

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if self.across_training is not None and self.across_training.prune(study, trial):
            return True
        return self.across_episodes is not None and self._worse_on_episodes(study, trial)

    def _worse_on_episodes(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        key = episode_key(trial.last_step)
        if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < self.startup_trials:
            return False
        try:
            best = study.best_trial
        except ValueError:  # no finished trial yet
            return False
        if best.number == trial.number or key not in trial.user_attrs or key not in best.user_attrs:
            return False
        view = _EpisodeStudy(study.direction, _episodes_as_steps(best, best.user_attrs[key]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.across_episodes.prune(view, _episodes_as_steps(trial, trial.user_attrs[key]))


def episode_key(step: int | None) -> str:
    return f"episodes@{step}"


@dataclass
class _EpisodeStudy:
    """The two things WilcoxonPruner reads from a study."""

    direction: optuna.study.StudyDirection
    best_trial: FrozenTrial


def _episodes_as_steps(trial: FrozenTrial, scores: list[float]) -> FrozenTrial:
    copy = optuna.trial.create_trial(state=TrialState.COMPLETE, value=0.0, intermediate_values=dict(enumerate(scores)))
    copy.number = trial.number
    return copy
