"""The inner loop of gradient-based learners: the update-rule contract and the functional loop.

* :class:`InnerOptimizer`, the update-rule contract (plain SGD, Meta-SGD's learned
  rates, MAML++'s per-layer-per-step rates, learned optimizers);
* :func:`inner_loop`, the functional inner loop: ``torch.func.grad`` of the support
  loss (plus the regularizers' inner penalties) and one optimizer step, repeated;
  second order unless told otherwise, so the adapted weights stay differentiable
  with respect to the meta-parameters. Being functional, it also runs under
  ``torch.compile`` (``autograd.grad(create_graph=True)`` does not).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from autometa.components.component import Component
from autometa.learning.regularizer import Regularizer

Params = dict[str, Tensor]


class InnerOptimizer(Component, nn.Module):
    """Base of inner-optimizer plugins: how adapted weights move on each inner step.

    Built as ``cls(options, params={name: tensor}, steps=S, lr=inner_lr)`` where
    ``params`` holds one tensor per parameter the inner loop adapts, shaped as the
    update must broadcast to: the head's class dimension is given as 1
    (``head.weight [1, D]``, ``head.bias [1]``) because the number of ways varies
    between episodes. Its own ``nn.Parameter``\\ s are meta-learned by the outer
    optimizer. ``step`` must be differentiable (second-order learners backpropagate
    through it). A rule whose meta-learned tensors are shaped like the adapted
    weights says so in ``state_per_weight`` (e.g. ``"a learning rate per weight"``):
    the weights' shapes then cannot change after meta-training (a structured
    pruner refuses such a predictor).
    """

    state_per_weight: ClassVar[str] = ""

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


def inner_loop(
    loss: Callable[[Params, Params, int], Tensor],
    params: Params,
    optimizer: InnerOptimizer,
    steps: int,
    *,
    buffers: Callable[[int], Params] = lambda step: {},
    first_order: bool = False,
    regularizers: Sequence[Regularizer] = (),
) -> Params:
    """Adapt ``params`` with ``steps`` inner steps and return the adapted tensors.

    ``loss(params, buffers, step)`` is the support loss at inner step ``step``;
    ``buffers(step)`` are the tensors that change with the step but are not adapted
    (MAML++'s per-step batch-norm parameters, the module's buffers), passed in
    explicitly so ``torch.func.grad`` differentiates only ``params``. Each step differentiates the loss plus every
    regularizer's ``inner_penalty(params, init_params)``. Second order by default:
    the result stays differentiable with respect to ``params`` and the optimizer's
    meta-parameters through the gradients; ``first_order`` detaches the gradients
    (first-order MAML: the adapted weights still depend on ``params``, linearly).
    """
    init_params = params

    def objective(current: Params, step_buffers: Params, step: int) -> Tensor:
        total = loss(current, step_buffers, step)
        for regularizer in regularizers:
            penalty = regularizer.inner_penalty(current, init_params)
            if penalty is not None:
                total = total + penalty
        return total

    state = optimizer.init_state(params)
    for step in range(steps):
        grads = torch.func.grad(objective)(params, buffers(step), step)
        if first_order:
            grads = {name: grad.detach() for name, grad in grads.items()}
        params, state = optimizer.step(params, grads, step, state)
    return params
