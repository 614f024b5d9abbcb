"""Unstructured magnitude pruning: zero the smallest weights across the network.

The model keeps its shapes, so it is not faster on dense CPU kernels; the stage
reports the sparsity reached (useful with sparse runtimes or compressed storage).
"""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
from pydantic import Field
from torch import nn
from torch.nn.utils import prune

from autometa import (
    CompressionContext,
    PluginOptions,
    Pruner,
    StageOutput,
    count_nonzero_parameters,
    count_parameters,
    prune_in_steps,
)


class MagnitudeOptions(PluginOptions):
    amount: float = Field(0.5, gt=0, lt=1, description="share of conv/linear weights set to zero (global)")
    iterations: int = Field(1, ge=1, description="reach the amount in this many steps, fine-tuning after each")
    finetune_steps: int = Field(100, ge=0, description="meta-train episodes of fine-tuning after each step")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate of the fine-tuning")


class MagnitudePruner(Pruner):
    """Unstructured global magnitude pruning (reports sparsity; same shapes, no speed-up)."""

    name: ClassVar[str] = "magnitude"
    Options: ClassVar[type[MagnitudeOptions]] = MagnitudeOptions

    def prune(self, predictor: nn.Module, context: CompressionContext) -> StageOutput:
        options = self.options
        predictor = copy.deepcopy(predictor).eval()
        weights = [(m, "weight") for m in predictor.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        masks: list[torch.Tensor] = []

        def prune_step(step: int) -> None:
            # Cumulative share of all weights zeroed after this step (zeros are the smallest, so kept).
            target = 1 - (1 - options.amount) ** (step / options.iterations)
            prune.global_unstructured(weights, pruning_method=prune.L1Unstructured, amount=target)
            for module, name in weights:  # no reparametrisation left: every weight keeps its name (an
                prune.remove(module, name)  # inner loop or inner optimizer may look it up by name)
            masks[:] = [module.weight != 0 for module, _ in weights]

        def keep_pruned() -> None:
            with torch.no_grad():
                for (module, _), mask in zip(weights, masks):
                    module.weight.mul_(mask)

        prune_in_steps(
            predictor, context, prune_step, after_step=keep_pruned,
            iterations=options.iterations, finetune_steps=options.finetune_steps, lr=options.lr,
        )
        total, nonzero = count_parameters(predictor), count_nonzero_parameters(predictor)
        return StageOutput(
            predictor.eval(),
            notes=f"{1 - nonzero / total:.1%} of parameters are zero (same shapes: smaller when "
            "compressed or run sparse, not faster on dense CPU kernels)",
        )
