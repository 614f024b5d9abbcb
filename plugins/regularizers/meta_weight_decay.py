"""L2 weight decay on the meta-parameters (the initialisation), applied to the meta-gradient."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from torch import nn

from autometa import InnerOptimizer, PluginOptions, Regularizer


class MetaWeightDecay(Regularizer):
    """Adds strength * theta to the meta-gradient of the network's weights (L2 on the initialisation).

    Classic L2 weight decay (Krogh & Hertz, NeurIPS 1991) applied to the
    meta-parameters: it shrinks the meta-learned initialisation toward zero. The
    inner optimizer's own meta-parameters (learned rates, learned rules) are left
    alone, and by default so are 1-D tensors (biases, normalisation scales), as is
    usual practice.
    """

    name = "meta_weight_decay"

    class Options(PluginOptions):
        strength: float = Field(1e-4, ge=0, description="decay coefficient added as strength * weight to the gradient")
        decay_1d: bool = Field(False, description="also decay 1-D tensors (biases, batch-norm scales and shifts)")

    def before_update(self, learner: Any) -> None:
        for param in decayed_parameters(learner, self.options.decay_1d):
            if param.grad is not None:
                param.grad.add_(param.detach(), alpha=self.options.strength)


def decayed_parameters(learner: nn.Module, decay_1d: bool) -> list[nn.Parameter]:
    """The learner's network weights: everything but inner-optimizer parameters (and 1-D ones unless asked)."""
    skipped = {
        id(p) for module in learner.modules() if isinstance(module, InnerOptimizer) for p in module.parameters()
    }
    return [p for p in learner.parameters() if id(p) not in skipped and (decay_1d or p.dim() > 1)]
