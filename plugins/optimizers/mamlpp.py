"""MAML++ learned per-layer, per-step inner learning rates (Antoniou et al. 2019, "LSLR")."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from autometa import InnerOptimizer, PluginOptions


class PerLayerPerStepLR(InnerOptimizer):
    """MAML++ rule: SGD with one meta-learned learning rate per parameter tensor and inner step.

    Antoniou, Edwards & Storkey, "How to train your MAML", ICLR 2019 (LSLR).
    The rates start at ``init_lr`` (default: the learner's ``inner_lr``) and are
    trained by the outer optimizer. Inner steps beyond the number it was built for
    (e.g. more steps at test time) reuse the last step's rates.
    """

    name = "mamlpp"

    class Options(PluginOptions):
        init_lr: float | None = Field(
            None, ge=0, description="initial rate of every layer and step (None: the learner's inner_lr)"
        )
        learn: bool = Field(True, description="meta-learn the rates (False: fixed per-step SGD)")

    def __init__(self, options: Options, params: dict[str, torch.Tensor], steps: int, lr: float):
        super().__init__(options, params, steps, lr)
        init = lr if options.init_lr is None else options.init_lr
        self.layer_index = {name: i for i, name in enumerate(params)}
        self.rates = nn.Parameter(
            torch.full((max(steps, 1), len(params)), float(init)), requires_grad=options.learn
        )

    def rates_at(self, step: int) -> torch.Tensor:
        """The rates of inner step ``step``, one per layer (the last step's beyond the trained count)."""
        return self.rates[min(step, self.rates.shape[0] - 1)]

    def step(
        self, params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], step: int, state: Any
    ) -> tuple[dict[str, torch.Tensor], Any]:
        rates = self.rates_at(step)
        updated = {
            name: param - rates[self.layer_index[name]].to(param.dtype) * grads[name]
            for name, param in params.items()
        }
        return updated, state
