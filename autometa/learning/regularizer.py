"""The meta-regularizer contract: terms on the inner or outer objective, and update constraints."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from autometa.components.component import Component


class Regularizer(Component):
    """Base of regularizer plugins, built as ``cls(options)``. Override what applies."""


    def __init__(self, options):
        self.options = options

    def attach(self, learner: Any) -> None:
        """Called once when the learner is built (e.g. to make part of it stochastic)."""

    def meta_only_parameters(self, learner: Any) -> set[str]:
        """Names (as in ``learner.named_parameters()``) that the inner loop must not adapt.

        Gradient-based learners leave these at their meta-learned values in every
        task, e.g. MR-MAML's stochastic layers, whose KL bottleneck only means
        something if the inner loop cannot rewrite them. A parameter no task can do
        without (a gradient learner's head) is adapted whatever this returns.
        """
        return set()

    def inner_penalty(
        self, params: dict[str, torch.Tensor], init_params: dict[str, torch.Tensor]
    ) -> torch.Tensor | None:
        """A term added to every inner-loop loss (gradient-based learners)."""
        return None

    def outer_penalty(self, learner: Any) -> torch.Tensor | float:
        """A term added to the meta-loss."""
        return 0.0

    def before_update(self, learner: Any) -> None:
        """Called after the meta-gradient is computed, before the outer optimizer steps."""

    def finish_predictor(self, predictor: nn.Module) -> nn.Module:
        """Turn the learner's exported predictor into what is deployed (e.g. strip training-only layers).

        ``predictor`` may share modules with the learner: copy before changing it.
        """
        return predictor
