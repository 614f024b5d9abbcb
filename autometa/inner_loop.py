"""The inner-loop update-rule contract for gradient-based learners."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

from autometa.components import Component


class InnerOptimizer(Component, nn.Module):
    """Base of inner-optimizer plugins: how adapted weights move on each inner step.

    Built as ``cls(options, params={name: tensor}, steps=S, lr=inner_lr)`` where
    ``params`` are the (meta-)parameters the inner loop adapts. Its own
    ``nn.Parameter``\\ s are meta-learned by the outer optimizer. ``step`` must be
    differentiable (second-order learners backpropagate through it).
    """

    kind: ClassVar[str] = "inner_optimizer"

    def __init__(self, options, params: dict[str, torch.Tensor], steps: int, lr: float):
        nn.Module.__init__(self)
        self.options = options
        self.steps = steps
        self.lr = lr

    def init_state(self, params: dict[str, torch.Tensor]) -> Any:
        """Per-task optimizer state (e.g. momentum); None when stateless."""
        return None

    @abstractmethod
    def step(
        self, params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], step: int, state: Any
    ) -> tuple[dict[str, torch.Tensor], Any]:
        """Return the updated parameters and state after inner step number ``step``."""
