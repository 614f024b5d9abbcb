"""Built-in meta-regularizers."""

from autometa import hookimpl


@hookimpl
def register_regularizers():
    from autometa_plugins.regularizers.meta_grad_clip import MetaGradClip
    from autometa_plugins.regularizers.meta_weight_decay import MetaWeightDecay
    from autometa_plugins.regularizers.mr_maml import MRMAML
    from autometa_plugins.regularizers.proximal import Proximal

    return [Proximal, MRMAML, MetaGradClip, MetaWeightDecay]
