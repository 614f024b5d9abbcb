"""Meta-gradient norm clipping as a composable regularizer."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from autometa import PluginOptions, Regularizer


class MetaGradClip(Regularizer):
    """Clips the global norm of the meta-gradient before each outer update.

    Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural
    networks", ICML 2013: unrolled inner loops are deep recurrent computations,
    and their meta-gradients can explode the same way.
    """

    name = "meta_grad_clip"

    class Options(PluginOptions):
        max_norm: float = Field(10.0, gt=0, description="largest allowed norm of the whole meta-gradient")
        norm_type: float = Field(2.0, gt=0, description="p of the p-norm (use 'inf' for the largest entry)")

    def before_update(self, learner: Any) -> None:
        params = [p for p in learner.parameters() if p.grad is not None]
        if params:
            torch.nn.utils.clip_grad_norm_(params, self.options.max_norm, norm_type=self.options.norm_type)
