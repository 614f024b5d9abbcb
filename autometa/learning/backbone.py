"""The backbone contract: a feature extractor any learner can wrap."""

from __future__ import annotations

from torch import nn

from autometa.components.component import Component


class Backbone(Component, nn.Module):
    """Base of backbone plugins: ``[B, C, H, W]`` images to ``[B, out_features]``.

    Built as ``cls(options, in_channels=C, image_size=H)``; subclasses set
    ``self.out_features`` in ``__init__``.
    """

    out_features: int

    def __init__(self, options, in_channels: int, image_size: int):
        nn.Module.__init__(self)
        self.options = options
        self.in_channels = in_channels
        self.image_size = image_size
