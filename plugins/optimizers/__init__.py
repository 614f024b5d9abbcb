"""Built-in inner optimizers (update rules of the inner loop)."""

from autometa import hookimpl


@hookimpl
def register_inner_optimizers():
    from autometa_plugins.optimizers.learned import LearnedOptimizer
    from autometa_plugins.optimizers.mamlpp import PerLayerPerStepLR
    from autometa_plugins.optimizers.meta_sgd import MetaSGD
    from autometa_plugins.optimizers.sgd import SGD

    return [SGD, MetaSGD, PerLayerPerStepLR, LearnedOptimizer]
