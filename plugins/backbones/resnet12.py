"""ResNet-12: the residual backbone of modern few-shot work.

Four residual blocks, each three conv 3x3 -> BN -> LeakyReLU(0.1) layers with a
1x1 conv + BN shortcut, followed by 2x2 max-pooling; channels grow as
``width * (1, 2.5, 5, 10)``, i.e. 64-160-320-640 at the default width (Lee et al.
2019, MetaOptNet; Oreshkin et al. 2018, TADAM). The final map is averaged over
space, so ``out_features = 10 * width`` for any input size. Pooling rounds up
(``ceil_mode``) so small images such as 28 px Omniglot never shrink to nothing.
DropBlock regularization is not included.
"""

from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from autometa import Backbone, PluginOptions

#: Channel multipliers of the four stages relative to ``width``.
STAGE_MULTIPLIERS = (1.0, 2.5, 5.0, 10.0)


class ResNet12Options(PluginOptions):
    width: int = Field(64, ge=4, le=256, description="channels of the first stage; later stages use 2.5x, 5x, 10x")


class ResNet12(Backbone):
    """ResNet-12: four 3-layer residual blocks with max-pooling, global average pool (width option)."""

    name = "resnet12"
    Options = ResNet12Options

    def __init__(self, options: ResNet12Options, in_channels: int, image_size: int):
        super().__init__(options, in_channels, image_size)
        stages: list[nn.Module] = []
        channels = in_channels
        for multiplier in STAGE_MULTIPLIERS:
            out_channels = int(options.width * multiplier)
            stages.append(ResidualBlock(channels, out_channels))
            channels = out_channels
        self.features = nn.Sequential(*stages, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_features = channels

    def forward(self, images: Tensor) -> Tensor:
        return self.features(images)


class ResidualBlock(nn.Module):
    """Three conv-BN layers plus a projected shortcut, then LeakyReLU and 2x2 max-pooling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(in_channels, out_channels, 3),
            nn.LeakyReLU(0.1),
            _conv_bn(out_channels, out_channels, 3),
            nn.LeakyReLU(0.1),
            _conv_bn(out_channels, out_channels, 3),
        )
        self.shortcut = _conv_bn(in_channels, out_channels, 1)
        self.activation = nn.LeakyReLU(0.1)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.activation(self.body(x) + self.shortcut(x)))


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    )
