"""Built-in learners."""

from autometa.hookspecs import hookimpl


@hookimpl
def register_learners():
    # Imported lazily: keep `autometa --help` instant.
    from autometa_plugins.learners.matching import MatchingNetwork
    from autometa_plugins.learners.protonet import ProtoNet
    from autometa_plugins.learners.siamese import SiameseNetwork
    from autometa_plugins.learners.task_conditioned import TaskConditionedNetwork

    return [ProtoNet, MatchingNetwork, SiameseNetwork, TaskConditionedNetwork]
