"""Plain gradient descent: the default inner update rule."""

from __future__ import annotations

from typing import Any

import torch

from autometa import InnerOptimizer


class SGD(InnerOptimizer):
    """Plain SGD: every adapted weight moves by -inner_lr times its gradient (MAML, Finn et al. 2017)."""

    name = "sgd"

    def step(
        self, params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], step: int, state: Any
    ) -> tuple[dict[str, torch.Tensor], Any]:
        return {name: param - self.lr * grads[name] for name, param in params.items()}, state
