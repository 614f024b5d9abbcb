"""Reptile: move the initialisation toward the weights each task adapts to."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from autometa import (
    GradientLearner,
    GradientLearnerOptions,
    RecipeError,
    StepOutput,
    TaskBatch,
)


class ReptileOptions(GradientLearnerOptions):
    inner_steps: int = Field(5, ge=1, le=100, description="gradient steps on the support set per task")
    inner_lr: float = Field(0.1, gt=0, description="inner-loop learning rate")


class Reptile(GradientLearner):
    """Reptile: the meta-gradient is the mean of (initial - adapted) weights over the batch's tasks.

    Nichol, Achiam & Schulman, "On First-Order Meta-Learning Algorithms", 2018.
    No backpropagation through the inner loop: each task adapts a detached copy
    of the weights on its support set, and ``initial - adapted`` is written to
    ``.grad``, so the trainer's outer optimizer (at ``outer_lr``) moves the
    initialisation toward the adapted weights. The query set is only scored.
    """

    name = "reptile"
    Options = ReptileOptions
    supports_per_step_bn = False

    def __init__(self, options, backbone, ways, registry, regularizers=()):
        super().__init__(options, backbone, ways, registry, regularizers)
        if any(p.requires_grad for p in self.inner_optimizer.parameters()):
            raise RecipeError(
                f"learner reptile cannot meta-learn the parameters of inner optimizer "
                f"'{options.inner_optimizer.name}' (its meta-gradient covers the network only); "
                "use inner_optimizer: sgd, or a learner such as maml"
            )

    def meta_step(self, batch: TaskBatch) -> StepOutput:
        meta_params = self.initial_params(batch.ways)
        trained = {name: p for name, p in meta_params.items() if p.requires_grad}
        deltas = {name: torch.zeros_like(p) for name, p in trained.items()}
        losses, accuracies = [], []
        for i in range(len(batch)):
            adapted, query_logits = self.adapt(
                batch.support_x[i], batch.support_y[i], batch.ways, first_order=True, detach=True
            )
            with torch.no_grad():
                for name in trained:
                    deltas[name] += (trained[name] - adapted[name]) / len(batch)
                logits = query_logits(batch.query_x[i])
                losses.append(F.cross_entropy(logits, batch.query_y[i]))
                accuracies.append((logits.argmax(1) == batch.query_y[i]).float().mean())
        for name, param in trained.items():
            param.grad = deltas[name] if param.grad is None else param.grad + deltas[name]
        return self.finish_meta_step(torch.stack(losses), torch.stack(accuracies))
