"""Conv4: the four-block convolutional backbone of the few-shot literature.

Each block is conv 3x3 -> batch norm -> ReLU -> 2x downsampling (Vinyals et al.
2016, Snell et al. 2017, Finn et al. 2017). Width, depth and the way it
downsamples (max-pooling or a stride-2 convolution) are options the search can
vary. Downsampling stops once the feature map is 1x1, so any depth works at any
image size; the final map is flattened, and ``out_features`` is computed from
the input size (64 at 28 px, 1600 at 84 px with the defaults).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from torch import Tensor, nn

from autometa import Backbone, PluginOptions


class Conv4Options(PluginOptions):
    width: int = Field(64, ge=1, le=1024, description="channels of every convolution")
    depth: int = Field(4, ge=1, le=8, description="number of conv-BN-ReLU-downsample blocks")
    downsample: Literal["pool", "stride"] = Field(
        "pool", description="halve the feature map with 2x2 max-pooling or with a stride-2 convolution"
    )


class Conv4(Backbone):
    """Conv4: stacked conv-BN-ReLU blocks with 2x downsampling (width, depth, pooling or strided)."""

    name = "conv4"
    Options = Conv4Options

    def __init__(self, options: Conv4Options, in_channels: int, image_size: int):
        super().__init__(options, in_channels, image_size)
        blocks: list[nn.Module] = []
        channels, size = in_channels, image_size
        for _ in range(options.depth):
            downsample = size >= 2
            blocks.append(_block(channels, options.width, downsample and options.downsample))
            if downsample:
                size = size // 2 if options.downsample == "pool" else (size + 1) // 2
            channels = options.width
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.out_features = options.width * size * size

    def forward(self, images: Tensor) -> Tensor:
        return self.features(images)


def _block(in_channels: int, out_channels: int, downsample: str | bool) -> nn.Sequential:
    """conv 3x3 -> BN -> ReLU, then pooled (``"pool"``), strided (``"stride"``) or neither (False)."""
    stride = 2 if downsample == "stride" else 1
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]
    if downsample == "pool":
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)
