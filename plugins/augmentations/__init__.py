"""Built-in augmentations: geometric (flip, crop, affine, elastic) and photometric (jitter)."""

from autometa import hookimpl


@hookimpl
def register_augmentations():
    # Imported lazily: keep `autometa --help` instant.
    from autometa_plugins.augmentations.geometric import Affine, Crop, Elastic, Flip
    from autometa_plugins.augmentations.photometric import Jitter

    return [Affine, Elastic, Flip, Crop, Jitter]
