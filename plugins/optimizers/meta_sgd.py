"""Meta-SGD's update rule: a meta-learned learning rate for every adapted weight (Li et al. 2017)."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from autometa import InnerOptimizer, PluginOptions


class MetaSGDOptions(PluginOptions):
    init_lr: float | None = Field(
        None, gt=0, description="initial rate of every weight (None: the learner's inner_lr)"
    )


class MetaSGD(InnerOptimizer):
    """Meta-SGD: per-weight learning rates (direction and size of the step), meta-learned.

    Li, Zhou, Chen & Li, "Meta-SGD: Learning to Learn Quickly for Few-Shot
    Learning", 2017. One rate per element of every adapted tensor, shaped as the
    tensor templates the learner passes (the head's class dimension is 1: a rate
    per feature shared by all classes, since labels are permuted between tasks).
    Rates are free to turn negative, as in the paper.
    """

    name = "meta_sgd"
    Options = MetaSGDOptions
    state_per_weight = "a learning rate per weight"

    def __init__(self, options: MetaSGDOptions, params: dict[str, torch.Tensor], steps: int, lr: float):
        super().__init__(options, params, steps, lr)
        init = lr if options.init_lr is None else options.init_lr
        # ParameterDict keys may not contain dots; keep the mapping to parameter names.
        self.keys = {name: f"p{i}" for i, name in enumerate(params)}
        self.rates = nn.ParameterDict(
            {self.keys[name]: nn.Parameter(torch.full_like(t, float(init))) for name, t in params.items()}
        )

    def rate(self, name: str) -> torch.Tensor:
        """The learning-rate tensor of adapted parameter ``name``."""
        return self.rates[self.keys[name]]

    def step(
        self, params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], step: int, state: Any
    ) -> tuple[dict[str, torch.Tensor], Any]:
        return {name: param - self.rate(name) * grads[name] for name, param in params.items()}, state
