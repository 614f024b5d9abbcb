"""Episodic accuracy: the mean over fixed episodes, its 95% CI, and every episode's score.

Every candidate is scored on the same seeded episodes, and the per-episode scores
are kept so paired comparisons (Optuna's WilcoxonPruner) can use them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from autometa.data.dataset import SplitData
from autometa.data.episodes import Episode, fixed_episodes
from autometa.recipe.schema import Recipe


@dataclass
class EvalResult:
    """Accuracy over ``n`` episodes: ``mean`` +- ``ci95`` (both fractions in [0, 1])."""

    mean: float
    ci95: float
    per_episode: list[float]
    n: int

    @classmethod
    def from_scores(cls, scores: Sequence[float]) -> EvalResult:
        """The mean of per-episode ``scores`` and its 95% CI.

        The CI is ``1.96 * std / sqrt(n)`` with the population std (numpy's default),
        as the ProtoNet and MAML papers' evaluation code computes it.
        """
        n = len(scores)
        mean = sum(scores) / n
        std = math.sqrt(sum((s - mean) ** 2 for s in scores) / n)
        return cls(mean=mean, ci95=1.96 * std / math.sqrt(n), per_episode=list(scores), n=n)

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{100 * self.mean:.2f}% +- {100 * self.ci95:.2f}% (95% CI, {self.n} episodes)"


def evaluate(predict: Callable[[Episode], torch.Tensor], episodes: Sequence[Episode]) -> EvalResult:
    """Score ``predict`` (episode -> query logits ``[N*Q, N]``) on ``episodes`` (see :meth:`EvalResult.from_scores`)."""
    if not episodes:
        raise ValueError("evaluate() needs at least one episode")
    scores = []
    for episode in episodes:
        logits = predict(episode)
        correct = logits.argmax(dim=-1).cpu() == episode.query_y.cpu()
        scores.append(correct.float().mean().item())
    return EvalResult.from_scores(scores)


def evaluate_learner(learner: nn.Module, episodes: Sequence[Episode], device: torch.device | str = "cpu") -> EvalResult:
    """Score a :class:`~autometa.learning.learner.MetaLearner` in eval mode (its mode is restored after).

    No ``torch.no_grad()`` here: gradient-based learners need autograd to adapt,
    and each learner's ``predict`` decides what it needs.
    """
    was_training = learner.training
    learner.eval()
    try:
        return evaluate(lambda episode: learner.predict(episode.to(device)), episodes)
    finally:
        learner.train(was_training)


def evaluate_predictor(predictor: nn.Module, episodes: Sequence[Episode], device: torch.device | str = "cpu") -> EvalResult:
    """Score an exported predictor (``forward(support, onehot, query) -> logits``).

    Exported predictors adapt without autograd, so this runs under ``no_grad``.
    """

    def predict(episode: Episode) -> torch.Tensor:
        return predictor(*episode.to(device).predictor_inputs())

    predictor.eval()
    with torch.no_grad():
        return evaluate(predict, episodes)


def split_episodes(recipe: Recipe, data: SplitData, split: str) -> Sequence[Episode]:
    """The fixed episodes of ``split`` (``"val"`` or ``"test"``) that every candidate is scored on.

    Their shape and count come from ``recipe.evaluation`` and they are seeded by
    ``recipe.seed``; a shape the split cannot fill is a DataError naming the split.
    """
    count = recipe.evaluation.val_episodes if split == "val" else recipe.evaluation.test_episodes
    return fixed_episodes(
        data.split(split), recipe.evaluation.shape, count,
        seed=recipe.seed, preprocessing=data.preprocessing, split_name=split,
    )
