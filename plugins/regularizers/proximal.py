"""Proximal regularisation toward the meta-initialisation (the iMAML inner objective)."""

from __future__ import annotations

import torch
from pydantic import Field

from autometa import PluginOptions, Regularizer


class Proximal(Regularizer):
    """Adds lambda/2 * ||phi - theta||^2 to every inner loss, keeping adapted weights near the init.

    Rajeswaran, Finn, Kakade & Levine, "Meta-Learning with Implicit Gradients",
    NeurIPS 2019 (iMAML): the inner problem is the task loss plus a proximal term
    toward the meta-parameters theta, so adaptation stays in a neighbourhood of
    theta whose size ``strength`` (lambda) controls.
    """

    name = "proximal"

    class Options(PluginOptions):
        strength: float = Field(1.0, ge=0, description="lambda: weight of the squared distance to the initialisation")

    def inner_penalty(
        self, params: dict[str, torch.Tensor], init_params: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        distance = sum((params[n] - init_params[n]).pow(2).sum() for n in params)
        return 0.5 * self.options.strength * distance
