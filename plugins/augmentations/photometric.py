"""Photometric augmentation: brightness and contrast, for photographs."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from autometa import Augmentation, AugmentationOptions, uniform


class JitterOptions(AugmentationOptions):
    strength: float = Field(0.2, ge=0, le=1, description="largest relative change of brightness and of contrast")


class Jitter(Augmentation):
    """Brightness and contrast each scaled by up to +-20%."""

    name = "jitter"
    Options = JitterOptions

    def sample(self, count: int, generator: torch.Generator) -> Tensor:
        return 1 + uniform(count, -self.options.strength, self.options.strength, generator, 2)

    def apply(self, images: Tensor, settings: Tensor) -> Tensor:
        brightness, contrast = settings[:, :1, None, None], settings[:, 1:, None, None]
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        return ((images - mean) * contrast + mean) * brightness
