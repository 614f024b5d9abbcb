"""Built-in datasets."""

from autometa import hookimpl


@hookimpl
def register_datasets():
    from autometa_plugins.datasets.cifar100 import FC100, CifarFS
    from autometa_plugins.datasets.glyphs import Glyphs
    from autometa_plugins.datasets.image_folder import ImageFolder
    from autometa_plugins.datasets.mini_imagenet import MiniImageNet
    from autometa_plugins.datasets.omniglot import Omniglot

    return [Glyphs, Omniglot, ImageFolder, CifarFS, FC100, MiniImageNet]
