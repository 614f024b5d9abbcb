"""Built-in pruners: structured channel pruning and unstructured magnitude pruning."""

from autometa import hookimpl


@hookimpl
def register_pruners():
    from autometa_plugins.pruners.channels import ChannelPruner
    from autometa_plugins.pruners.unstructured import MagnitudePruner

    return [ChannelPruner, MagnitudePruner]
