"""The meta-learner contract: one small interface every algorithm implements."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from autometa.components import Component
from autometa.episodes import Episode, TaskBatch


@dataclass
class StepOutput:
    """What one meta-training step reports (detached scalars)."""

    loss: float
    accuracy: float


class MetaLearner(Component, nn.Module):
    """Base of meta-learner plugins.

    Built as ``cls(options, backbone=..., ways=..., registry=..., regularizers=[...])``:
    ``backbone`` is a built :class:`~autometa.networks.Backbone`, ``ways`` the
    training episode's N, ``registry`` the :class:`~autometa.plugins.Registry`
    (to build nested components such as an inner optimizer), ``regularizers`` the
    built :class:`~autometa.regularizers.Regularizer` list of the strategy.
    """

    kind: ClassVar[str] = "learner"

    def __init__(self, options, backbone: nn.Module, ways: int, registry: Any = None, regularizers: list | None = None):
        nn.Module.__init__(self)
        self.options = options
        self.backbone = backbone
        self.ways = ways
        self.attach_regularizers(regularizers or [])

    def attach_regularizers(self, regularizers: list) -> None:
        """Attach the strategy's regularizers. A learner that builds modules they may change
        (a gradient learner's head) passes none to ``__init__`` and calls this once those exist."""
        self.regularizers = list(regularizers)
        for regularizer in self.regularizers:
            regularizer.attach(self)

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
