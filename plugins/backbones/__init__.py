"""Built-in backbones."""

from autometa import hookimpl


@hookimpl
def register_backbones():
    from autometa_plugins.backbones.conv4 import (
        Conv4,  # lazy: keep `autometa --help` instant
    )
    from autometa_plugins.backbones.resnet12 import ResNet12

    return [Conv4, ResNet12]
