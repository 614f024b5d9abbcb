"""The meta-learner contract: one small interface every algorithm implements, and how a strategy builds one."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from autometa.components.component import Component
from autometa.components.registry import Registry
from autometa.data.dataset import Preprocessing
from autometa.data.episodes import Episode, TaskBatch
from autometa.learning.regularizer import Regularizer
from autometa.recipe.schema import Strategy


@dataclass
class StepOutput:
    """What one meta-training step reports (detached scalars)."""

    loss: float
    accuracy: float


class MetaLearner(Component, nn.Module):
    """Base of meta-learner plugins.

    Built as ``cls(options, backbone=..., ways=..., registry=..., regularizers=[...])``:
    ``backbone`` is a built :class:`~autometa.learning.backbone.Backbone`, ``ways`` the
    training episode's N, ``registry`` the :class:`~autometa.components.Registry`
    (to build nested components such as an inner optimizer), ``regularizers`` the
    built :class:`~autometa.learning.regularizer.Regularizer` list of the strategy.

    A learner's trainable modules are its ``backbone`` and its ``head`` (built by
    :meth:`make_head`); the base constructor attaches the regularizers once both
    exist, so a regularizer can reach (and change) either. Subclasses that need
    the regularizers' answers (e.g. which parameters stay meta-only) read
    ``self.regularizers`` after calling ``super().__init__``.
    """


    def __init__(
        self, options, backbone: nn.Module, ways: int, registry: Registry, regularizers: Sequence[Regularizer] = ()
    ):
        nn.Module.__init__(self)
        self.options = options
        self.backbone = backbone
        self.ways = ways
        self.head = self.make_head(backbone.out_features)
        self.regularizers = list(regularizers)
        for regularizer in self.regularizers:
            regularizer.attach(self)

    def make_head(self, features: int) -> nn.Module | None:
        """The module that turns ``features``-wide embeddings into logits (None: the learner has none)."""
        return None

    @abstractmethod
    def meta_step(self, batch: TaskBatch) -> StepOutput:
        """Accumulate the meta-gradient of ``batch`` into ``.grad`` (the trainer steps).

        Add each regularizer's ``outer_penalty(self)`` to the meta-loss.
        """

    @abstractmethod
    def predict(self, episode: Episode) -> torch.Tensor:
        """Adapt to ``episode``'s support set and return query logits ``[N*Q, N]``."""

    @abstractmethod
    def export_predictor(self) -> nn.Module:
        """The deployable predictor: ``forward(support [S,C,H,W], onehot [S,N], query [Q,C,H,W]) -> [Q,N]``.

        A plain ``nn.Module`` that needs no autograd at inference and imports
        nothing from autometa at run time, so ``torch.export`` and ONNX can trace it.
        """

    def deployable_predictor(self) -> nn.Module:
        """What is evaluated, compressed and exported: ``export_predictor`` finished by every regularizer."""
        predictor = self.export_predictor()
        for regularizer in self.regularizers:
            predictor = regularizer.finish_predictor(predictor)
        return predictor

    def set_training_progress(self, fraction: float) -> None:
        """Told by the trainer before each meta-step (0 -> 1), for schedules such as
        MAML++'s first- to second-order annealing. Default: ignored."""

    def outer_penalty(self) -> torch.Tensor | float:
        """Sum of the regularizers' outer-loss terms (0 without regularizers)."""
        return sum((r.outer_penalty(self) for r in self.regularizers), 0.0)


def build_learner(strategy: Strategy, preprocessing: Preprocessing, registry: Registry) -> MetaLearner:
    """Build the strategy's backbone, regularizers and learner from ``registry``'s plugins."""
    backbone = registry.create(
        "backbone", strategy.backbone, in_channels=preprocessing.channels, image_size=preprocessing.image_size
    )
    regularizers = [registry.create("regularizer", ref) for ref in strategy.regularizers]
    return registry.create(
        "learner",
        strategy.learner,
        backbone=backbone,
        ways=strategy.train_episodes.ways,
        registry=registry,
        regularizers=regularizers,
    )
